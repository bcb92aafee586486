/**
 * Generates the JSON Schemas in `contracts/` from the Effect Schemas, and checks for drift.
 *
 *   node scripts/contracts.ts write   # regenerate every file (npm run contracts)
 *   node scripts/contracts.ts check   # exit 1 if a checked-in file differs (npm run contracts:check)
 *
 * The Effect Schemas in `src/` are the source of truth; the files in `contracts/` are generated
 * and checked in so that people and tools that do not read TypeScript (other languages, API
 * gateways, reviewers) see the same shapes. To publish a new contract, add ONE line to
 * {@link contracts}.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, FileSystem, JsonSchema, Path, Schema } from "effect"
import * as BridgeContract from "../src/bridge/BridgeContract.ts"
import * as FederationContract from "../src/federation/FederationContract.ts"
import * as StreamEvents from "../src/cli/StreamEvents.ts"
import * as LlmConnectConfig from "../src/LlmConnectConfig.ts"
import * as LlmError from "../src/LlmError.ts"
import * as LlmRequest from "../src/LlmRequest.ts"
import * as LlmResponse from "../src/LlmResponse.ts"
import * as Collective from "../src/routing/Collective.ts"
import * as RouteDocuments from "../src/routing/RouteDocuments.ts"
import * as ServeApi from "../src/server/ServeApi.ts"
import * as WorkflowRunDocument from "../src/server/WorkflowRunDocument.ts"
import * as StreamPart from "../src/StreamPart.ts"
import * as SchemaFile from "../src/cli/SchemaFile.ts"
import * as ToolsFile from "../src/cli/ToolsFile.ts"
import * as ResponseFormat from "../src/ResponseFormat.ts"
import * as MockToolCalls from "../src/providers/mock/MockToolCalls.ts"
import * as ToolCall from "../src/ToolCall.ts"
import * as WorkflowFile from "../src/workflow/WorkflowFile.ts"

/**
 * One generated contract file.
 *
 * @since 0.1.0
 * @category models
 */
export interface Contract {
  /** The file name under `contracts/`, e.g. `"llm-request.schema.json"`. */
  readonly file: string
  /** A one-line title written into the JSON Schema. */
  readonly title: string
  /** The Effect Schema the file is generated from. */
  readonly schema: Schema.Top
  /** Generation options, e.g. `{ onExcessProperty: "error" }` for a closed object. */
  readonly options?: Schema.ToJsonSchemaOptions | undefined
}

/**
 * The error document the CLI (`--json`) and server print: {@link LlmError.ErrorDocument}'s
 * common fields, `errorType` set to the reason's tag, and the reason's own fields
 * (`description`, `retryAfterMs`, `dimension`...), exactly what `LlmError.toDocument` returns.
 * One branch per reason, so a reader sees which fields come with which `errorType`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorDocument = Schema.Union(
  LlmError.LlmErrorReason.members.map((reason) => {
    const { _tag, ...fields } = reason.fields
    return Schema.Struct({ ...LlmError.ErrorDocument.fields, errorType: _tag, ...fields }).annotate({
      identifier: `${reason.identifier}Document`
    })
  })
).annotate({
  identifier: "ErrorDocument",
  description: "A failure as printed by the CLI (--json) and the server: the message, the reason tag " +
    "(errorType), whether retrying can help, and the reason's own fields."
})

/**
 * Every contract, in the order they are listed in `contracts/`. Add a line here to publish one.
 *
 * @since 0.1.0
 * @category contracts
 */
export const contracts: ReadonlyArray<Contract> = [
  { file: "llm-request.schema.json", title: "llm-connect LlmRequest", schema: LlmRequest.LlmRequest },
  { file: "llm-response.schema.json", title: "llm-connect LlmResponse (also `prompt --json` on success)", schema: LlmResponse.LlmResponse },
  { file: "stream-part.schema.json", title: "llm-connect stream part (LanguageModel.stream; readers ignore unknown types)", schema: StreamPart.StreamPart },
  { file: "error.schema.json", title: "llm-connect error document (also `prompt --json` on failure)", schema: ErrorDocument },
  {
    file: "prompt-stream-event.schema.json",
    title: "llm-connect `prompt --stream --json` line (JSON Lines; readers ignore unknown types)",
    schema: StreamEvents.StreamEvent
  },
  {
    file: "config.schema.json",
    title: "llm-connect configuration file (llm-connect.yaml)",
    schema: LlmConnectConfig.ConfigFile,
    options: LlmConnectConfig.jsonSchemaOptions
  },
  { file: "workflow.schema.json", title: "llm-connect workflow file (llm-connect run <file.yaml>)", schema: WorkflowFile.WorkflowFile, options: WorkflowFile.jsonSchemaOptions },
  { file: "bridge-request.schema.json", title: "llm-connect bridge request (llm-connect bridge stdin, one line with --jsonl; POST /execute)", schema: BridgeContract.BridgeRequest },
  { file: "bridge-response.schema.json", title: "llm-connect bridge answer: a response (exit 0) or a failure (exit 1, or 2 for InvalidInput)", schema: BridgeContract.BridgeAnswer },
  { file: "tools.schema.json", title: "llm-connect tool declarations (llm-connect prompt --tools FILE)", schema: ToolsFile.ToolsFile },
  { file: "agents-list.schema.json", title: "llm-connect `agents list --json` (GET /v1/agents)", schema: FederationContract.AgentList },
  { file: "delegation.schema.json", title: "llm-connect delegation record (`delegate --json`, /v1/delegations)", schema: FederationContract.DelegationDocument },
  {
    file: "tool-calls.schema.json",
    title: "llm-connect tool calls (LlmResponse.toolCalls; `prompt --json` field toolCalls)",
    schema: Schema.Array(ToolCall.ToolCall)
  },
  { file: "mock-tool-calls.schema.json", title: "llm-connect mock tool-call script (--mock-tool-calls FILE)", schema: MockToolCalls.Script },
  { file: "response-format.schema.json", title: "llm-connect structured output request (LlmRequest.responseFormat)", schema: ResponseFormat.ResponseFormat },
  {
    file: "prompt-object.schema.json",
    title: "llm-connect `prompt --schema FILE --json` on success (the response with the decoded object)",
    schema: SchemaFile.ObjectDocument
  },
  { file: "routes-explain.schema.json", title: "llm-connect `routes explain TASK --json` (GET /v1/routes/explain)", schema: RouteDocuments.ExplanationDocument },
  { file: "routes-list.schema.json", title: "llm-connect `routes list --json` (GET /v1/routes)", schema: RouteDocuments.RoutesDocument },
  { file: "collective.schema.json", title: "llm-connect `collective --task-type T PROMPT --json` (POST /v1/collective)", schema: Collective.ProposalDocument },
  { file: "workflow-run.schema.json", title: "llm-connect serve workflow run state (GET /v1/runs/{id}, JSON-RPC workflow.status)", schema: WorkflowRunDocument.RunDocument },
  { file: "workflow-run-event.schema.json", title: "llm-connect serve workflow run event (GET /v1/runs/{id}/events, one SSE data each)", schema: WorkflowRunDocument.RunEvent }
]

/**
 * Generated documents that are not JSON Schemas (e.g. OpenAPI), each a file and its text.
 *
 * @since 0.1.0
 * @category contracts
 */
export const documents: ReadonlyArray<{ readonly file: string; readonly render: () => string }> = [
  { file: "serve-openapi.json", render: () => `${JSON.stringify(ServeApi.openApi(), null, 2)}\n` }
]

/**
 * Renders a contract as the text of its file: a standalone draft 2020-12 JSON Schema
 * (`$schema`, `title`, the root, and the named definitions under `$defs`).
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (contract: Contract): string => {
  const document = Schema.toJsonSchemaDocument(contract.schema, contract.options)
  const standalone = {
    $schema: JsonSchema.META_SCHEMA_URI_DRAFT_2020_12,
    title: contract.title,
    $comment: "Generated by `npm run contracts` from the Effect Schemas in src/. Do not edit by hand.",
    ...document.schema,
    $defs: document.definitions
  }
  return `${JSON.stringify(standalone, null, 2)}\n`
}

/**
 * A difference between `contracts/` and what the Schemas generate.
 *
 * @since 0.1.0
 * @category models
 */
export interface Drift {
  readonly file: string
  readonly problem: "missing" | "changed" | "not generated by any contract"
}

/**
 * Compares the files in `directory` with what the Schemas generate now.
 *
 * @since 0.1.0
 * @category checking
 */
export const check = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const drifts: Array<Drift> = []
    for (const contract of contracts) {
      const file = path.join(directory, contract.file)
      const exists = yield* fs.exists(file)
      if (!exists) {
        drifts.push({ file: contract.file, problem: "missing" })
        continue
      }
      const current = yield* fs.readFileString(file)
      if (current !== render(contract)) drifts.push({ file: contract.file, problem: "changed" })
    }
    for (const document of documents) {
      const file = path.join(directory, document.file)
      const current = (yield* fs.exists(file)) ? yield* fs.readFileString(file) : undefined
      if (current === undefined) drifts.push({ file: document.file, problem: "missing" })
      else if (current !== document.render()) drifts.push({ file: document.file, problem: "changed" })
    }
    const known = new Set(contracts.map((contract) => contract.file))
    const present = (yield* fs.exists(directory)) ? yield* fs.readDirectory(directory) : []
    for (const name of present) {
      if (name.endsWith(".schema.json") && !known.has(name)) {
        drifts.push({ file: name, problem: "not generated by any contract" })
      }
    }
    return drifts
  })

/**
 * Writes every contract into `directory`.
 *
 * @since 0.1.0
 * @category writing
 */
export const write = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* fs.makeDirectory(directory, { recursive: true })
    for (const contract of contracts) {
      yield* fs.writeFileString(path.join(directory, contract.file), render(contract))
    }
    for (const document of documents) yield* fs.writeFileString(path.join(directory, document.file), document.render())
    return [...contracts.map((contract) => contract.file), ...documents.map((document) => document.file)]
  })

const main = (command: string | undefined) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const directory = path.join(import.meta.dirname, "..", "contracts")
    if (command === "write") {
      const files = yield* write(directory)
      yield* Console.log(`contracts: wrote ${files.length} files to contracts/ (${files.join(", ")})`)
      return 0
    }
    if (command === "check") {
      const drifts = yield* check(directory)
      if (drifts.length === 0) {
        yield* Console.log(`contracts: ${contracts.length + documents.length} files match the Schemas`)
        return 0
      }
      for (const drift of drifts) {
        yield* Console.error(`contracts/${drift.file}: ${drift.problem}`)
      }
      yield* Console.error(
        "contracts: the checked-in JSON Schemas differ from the Effect Schemas in src/. " +
          "Run `npm run contracts` and commit contracts/ (or add the file to the list in scripts/contracts.ts)."
      )
      return 1
    }
    yield* Console.error("usage: node scripts/contracts.ts write|check")
    return 2
  })

if (import.meta.main) {
  main(process.argv[2]).pipe(
    Effect.flatMap(Effect.fnUntraced(function*(code) {
      yield* Effect.sync(() => {
        process.exitCode = code
      })
    })),
    Effect.provide(NodeServices.layer),
    NodeRuntime.runMain
  )
}
