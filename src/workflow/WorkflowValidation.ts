/**
 * Everything checked before a YAML workflow runs, all at once.
 *
 * The shape (against `WorkflowFile`, unknown keys included), then what a Schema cannot see:
 * duplicate step ids, a step with both or neither of `prompt` and `type`, `needs` naming unknown
 * steps, cycles in `needs` (the cycle is named), template variables that name no declared input
 * or no step, a step used in a template but not among the step's needs, fields of a text
 * output, unknown providers, models unknown to a provider with a closed list, unknown step
 * types and bad `with` arguments, JSON Schemas that cannot be read. Each problem carries the path
 * of the node it is about, which `WorkflowYaml` turns into a file and line. Inputs are checked
 * against the declared inputs by {@link checkInputs}.
 *
 * Parse, don't validate: {@link validate} returns what it read along the way (each step's parsed
 * templates and its output Schema), which `WorkflowYaml.compile` uses as it is, with no second
 * parse.
 *
 * @since 0.1.0
 */
import { JsonSchema, Result, Schema, SchemaRepresentation } from "effect"
import type * as ProviderRegistry from "../ProviderRegistry.ts"
import { schemaProblems } from "./internal/schemaIssues.ts"
import * as StepType from "./StepType.ts"
import * as Template from "./Template.ts"
import * as WorkflowFile from "./WorkflowFile.ts"


/** A value as an error message quotes it: JSON, cut at 60 characters (an input may be megabytes). */
const shownValue = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/**
 * A problem and where it is (keys and indexes from the document root).
 *
 * @since 0.1.0
 * @category models
 */
export interface Problem {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}

/**
 * What validation checks names against.
 *
 * @since 0.1.0
 * @category models
 */
export interface Environment {
  /** Registered providers; when absent, provider names are not checked. */
  readonly providers?: ReadonlyArray<ProviderRegistry.Provider> | undefined
  readonly stepTypes: ReadonlyMap<string, StepType.StepType>
}

type Raw = Readonly<Record<string, unknown>>
const isRecord = (value: unknown): value is Raw => typeof value === "object" && value !== null && !Array.isArray(value)
const strings = (value: unknown): ReadonlyArray<string> =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []

const distance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

/**
 * ` Did you mean "x"?` when a known name is close to `name`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const suggest = (name: string, known: Iterable<string>): string => {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const d = distance(name, candidate)
    if (d < bestDistance) [best, bestDistance] = [candidate, d]
  }
  const allowed = name.length <= 3 ? 1 : name.length <= 8 ? 2 : 3
  return best !== undefined && bestDistance <= allowed ? ` Did you mean "${best}"?` : ""
}

const knownKeys = (path: ReadonlyArray<string | number>): ReadonlyArray<string> => {
  const parent = path.slice(0, -1).filter((key) => typeof key === "string")
  const last = parent.at(-1)
  if (last === undefined) return Object.keys(WorkflowFile.WorkflowFile.fields)
  if (last === "steps") return Object.keys(WorkflowFile.Step.fields)
  if (last === "defaults") return Object.keys(WorkflowFile.Defaults.fields)
  if (last === "params") return Object.keys(WorkflowFile.Params.fields)
  if (last === "budget") return Object.keys(parent.length === 1 ? WorkflowFile.RunBudget.fields : WorkflowFile.StepBudget.fields)
  return []
}

const excessKey = (path: ReadonlyArray<string | number>): string => {
  const key = String(path.at(-1))
  const known = knownKeys(path)
  return `unknown key "${key}"${known.length > 0 ? `; allowed here: ${known.join(", ")}.${suggest(key, known)}` : ""}`
}

const list = (names: Iterable<string>): string => {
  const all = [...names]
  return all.length === 0 ? "(none)" : all.join(", ")
}

/**
 * Reads an output's JSON Schema into an Effect Schema, or says why it cannot.
 *
 * @since 0.1.0
 * @category json
 */
export const outputSchema = (schema: unknown): Result.Result<Schema.Top, string> => {
  try {
    const document = JsonSchema.fromSchemaDraft2020_12(schema as JsonSchema.JsonSchema)
    return Result.succeed(SchemaRepresentation.fromJsonSchemaDocument(document))
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ")
    return Result.fail(`output.schema is not a usable JSON Schema: ${message}`)
  }
}

const outputOf = (step: Raw): { readonly json: boolean; readonly schema: unknown } => {
  const output = step.output
  if (output === "json") return { json: true, schema: undefined }
  if (isRecord(output) && output.type === "json") return { json: true, schema: output.schema }
  return { json: false, schema: undefined }
}

const findCycles = (needs: ReadonlyMap<string, ReadonlyArray<string>>): ReadonlyArray<ReadonlyArray<string>> => {
  const cycles: Array<ReadonlyArray<string>> = []
  const seen = new Set<string>()
  const state = new Map<string, "visiting" | "done">()
  const stack: Array<string> = []
  const visit = (id: string): void => {
    state.set(id, "visiting")
    stack.push(id)
    for (const need of needs.get(id) ?? []) {
      if (!needs.has(need)) continue
      if (state.get(need) === "visiting") {
        const cycle = [...stack.slice(stack.indexOf(need)), need]
        const key = [...new Set(cycle)].sort().join(" ")
        if (!seen.has(key)) {
          seen.add(key)
          cycles.push(cycle)
        }
      } else if (state.get(need) === undefined) visit(need)
    }
    stack.pop()
    state.set(id, "done")
  }
  for (const id of needs.keys()) if (state.get(id) === undefined) visit(id)
  return cycles
}

const ancestors = (id: string, needs: ReadonlyMap<string, ReadonlyArray<string>>): ReadonlySet<string> => {
  const found = new Set<string>()
  const pending = [...(needs.get(id) ?? [])]
  while (pending.length > 0) {
    const next = pending.pop()!
    if (found.has(next)) continue
    found.add(next)
    pending.push(...(needs.get(next) ?? []))
  }
  return found
}

/**
 * How a prompt step's reply is read: its text, or JSON (decoded with `schema` when given).
 *
 * @since 0.1.0
 * @category models
 */
export type Output =
  | { readonly type: "text" }
  | { readonly type: "json"; readonly schema?: Schema.Top | undefined }

/**
 * What validation read from one step, parsed once: a prompt step's templates and how its reply
 * is read, or a step type and its `with` arguments.
 *
 * @since 0.1.0
 * @category models
 */
export type CheckedStep =
  | {
    readonly _tag: "Prompt"
    readonly prompt: Template.Template
    readonly system?: Template.Template | undefined
    readonly output: Output
  }
  | {
    readonly _tag: "Type"
    readonly type: StepType.StepType
    /** The `with` arguments, every string in them parsed. */
    readonly with?: Template.Tree | undefined
  }

/**
 * A workflow document that can run: the file, and each step as validation read it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Checked {
  readonly file: WorkflowFile.WorkflowFile
  /** One entry per step of `file.steps`, in order. */
  readonly steps: ReadonlyArray<CheckedStep>
}

/**
 * Checks a parsed workflow document and returns every problem (empty when it can run).
 *
 * @since 0.1.0
 * @category validation
 */
export const check = (raw: unknown, environment: Environment): ReadonlyArray<Problem> => {
  const result = validate(raw, environment)
  return Result.isFailure(result) ? result.failure : []
}

/**
 * Checks a parsed workflow document: every problem, or the document with each step's parsed
 * templates and output Schema.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (raw: unknown, environment: Environment): Result.Result<Checked, ReadonlyArray<Problem>> => {
  const problems: Array<Problem> = schemaProblems(
    WorkflowFile.WorkflowFile,
    raw,
    { onExcessProperty: "error" }
  ).map((problem) => {
    const path = problem.path.map((key) => (typeof key === "number" ? key : String(key)))
    return { path, message: problem.message === "Expected no excess property" ? excessKey(path) : problem.message }
  })
  if (!isRecord(raw)) return Result.fail(problems)
  const add = (path: ReadonlyArray<string | number>, message: string) => problems.push({ path, message })

  const inputs = isRecord(raw.inputs) ? new Set(Object.keys(raw.inputs)) : new Set<string>()
  const defaults = isRecord(raw.defaults) ? raw.defaults : {}
  const steps = Array.isArray(raw.steps) ? raw.steps.map((step) => (isRecord(step) ? step : {})) : []
  const ids = new Map<string, number>()
  steps.forEach((step, index) => {
    if (typeof step.id !== "string") return
    if (ids.has(step.id)) add(["steps", index, "id"], `duplicate step id "${step.id}" (also steps[${ids.get(step.id)}])`)
    else ids.set(step.id, index)
  })
  const needs = new Map<string, ReadonlyArray<string>>()
  for (const step of steps) if (typeof step.id === "string") needs.set(step.id, strings(step.needs))

  const providers = environment.providers
  const checkProvider = (path: ReadonlyArray<string | number>, name: unknown, model: unknown) => {
    if (providers === undefined || typeof name !== "string") return
    const provider = providers.find((candidate) => candidate.name === name)
    if (provider === undefined) {
      const names = providers.map((candidate) => candidate.name)
      return add([...path, "provider"], `unknown provider "${name}"; registered providers: ${list(names)}.${suggest(name, names)}`)
    }
    if (typeof model === "string" && provider.closedModelList === true && provider.models !== undefined && !provider.models.includes(model)) {
      add([...path, "model"], `model "${model}" is not offered by ${name}; known models: ${list(provider.models)}.${suggest(model, provider.models)}`)
    }
  }
  checkProvider(["defaults"], defaults.provider, defaults.model)

  const checked: Array<CheckedStep> = []
  steps.forEach((step, index) => {
    const at = (...rest: Array<string | number>) => ["steps", index, ...rest]
    const id = typeof step.id === "string" ? step.id : `#${index}`
    const hasPrompt = step.prompt !== undefined
    const hasType = step.type !== undefined
    if (hasPrompt && hasType) add(at("type"), `step "${id}" has both prompt and type: give one`)
    if (!hasPrompt && !hasType) add(at(), `step "${id}" needs a prompt (or a registered type with its with arguments)`)
    if (step.with !== undefined && !hasType) add(at("with"), `step "${id}" has with arguments but no type`)
    strings(step.needs).forEach((need, needIndex) => {
      if (need === id) add(at("needs", needIndex), `step "${id}" needs itself`)
      else if (!ids.has(need)) {
        add(at("needs", needIndex), `step "${id}" needs "${need}", which is not a step; steps: ${list(ids.keys())}.${suggest(need, ids.keys())}`)
      }
    })
    if (step.taskType !== undefined) {
      // A routed step's model is the route's choice: naming one as well is a contradiction.
      for (const key of ["provider", "model", "options"] as const) {
        if (step[key] !== undefined) add(at(key), `step "${id}" is routed by taskType; remove ${key} (the routes: rules choose the model)`)
      }
    } else checkProvider(at(), step.provider ?? defaults.provider, step.model ?? (step.provider === undefined ? defaults.model : undefined))
    if (step.taskType === undefined && step.options !== undefined && step.provider === undefined && defaults.provider === undefined) {
      add(at("options"), `step "${id}" has provider options but names no provider: add provider`)
    }
    const output = outputOf(step)
    let schema: Schema.Top | undefined
    if (output.schema !== undefined) {
      const compiled = outputSchema(output.schema)
      if (Result.isFailure(compiled)) add(at("output", "schema"), compiled.failure)
      else schema = compiled.success
    }
    const stepType = typeof step.type === "string" ? environment.stepTypes.get(step.type) : undefined
    if (typeof step.type === "string") {
      const type = stepType
      if (type === undefined) {
        const known = [...environment.stepTypes.keys()]
        add(at("type"), `unknown step type "${step.type}"; registered types: ${list(known)}.${suggest(step.type, known)}`)
      } else {
        for (const message of StepType.checkArgs(type, step.with)) add(at("with"), `step "${id}" (${type.name}): ${message}`)
      }
    }
    const upstream = ancestors(id, needs)
    const checkTemplate = (path: ReadonlyArray<string | number>, source: string): Template.Template | undefined => {
      const parsed = Template.parse(source)
      if (Result.isFailure(parsed)) {
        parsed.failure.forEach((message) => add(path, message))
        return undefined
      }
      for (const reference of Template.references(parsed.success)) {
        if (reference._tag === "Input") {
          if (!inputs.has(reference.name)) {
            add(path, `unknown variable {{${reference.raw}}}: declared inputs are ${list(inputs)}.${suggest(reference.name, inputs)}`)
          }
          continue
        }
        const target = ids.get(reference.step)
        if (target === undefined) {
          add(path, `{{${reference.raw}}} names step "${reference.step}", which does not exist; steps: ${list(ids.keys())}.${suggest(reference.step, ids.keys())}`)
        } else if (!upstream.has(reference.step)) {
          add(path, `step "${id}" uses {{${reference.raw}}} but does not need "${reference.step}": add it to needs`)
        } else if (reference.path.length > 0) {
          const targetOutput = outputOf(steps[target]!)
          if (!targetOutput.json) {
            add(path, `{{${reference.raw}}}: step "${reference.step}" has a text output, which has no fields; set its output: json`)
          } else if (isRecord(targetOutput.schema) && isRecord(targetOutput.schema.properties)) {
            const field = reference.path[0]!
            const known = Object.keys(targetOutput.schema.properties)
            if (!known.includes(field)) {
              add(path, `{{${reference.raw}}}: the output schema of "${reference.step}" has no field "${field}"; fields: ${list(known)}.${suggest(field, known)}`)
            }
          }
        }
      }
      return parsed.success
    }
    const prompt = typeof step.prompt === "string" ? checkTemplate(at("prompt"), step.prompt) : undefined
    const system = typeof step.system === "string" ? checkTemplate(at("system"), step.system) : undefined
    const walk = (value: unknown, path: ReadonlyArray<string | number>): Template.Tree => {
      if (typeof value === "string") {
        const template = checkTemplate(path, value)
        return template === undefined ? { _tag: "Literal", value } : { _tag: "Template", template }
      }
      if (Array.isArray(value)) return { _tag: "List", items: value.map((item, itemIndex) => walk(item, [...path, itemIndex])) }
      if (isRecord(value)) return { _tag: "Record", entries: Object.entries(value).map(([key, item]) => [key, walk(item, [...path, key])]) }
      return { _tag: "Literal", value }
    }
    const args = step.with === undefined ? undefined : walk(step.with, at("with"))
    // Kept only while there is no problem: a document with one is never returned.
    if (stepType !== undefined) checked.push({ _tag: "Type", type: stepType, ...(args !== undefined ? { with: args } : {}) })
    else if (prompt !== undefined) {
      checked.push({
        _tag: "Prompt",
        prompt,
        ...(system !== undefined ? { system } : {}),
        output: output.json ? { type: "json", ...(schema !== undefined ? { schema } : {}) } : { type: "text" }
      })
    }
  })

  for (const cycle of findCycles(needs)) {
    const first = cycle[0]!
    const index = ids.get(first)!
    add(["steps", index, "needs"], `cycle in needs: ${cycle.join(" -> ")}; remove one of these needs`)
  }
  return problems.length > 0 ? Result.fail(problems) : Result.succeed({ file: raw as WorkflowFile.WorkflowFile, steps: checked })
}

/**
 * Checks inputs against the declared ones: unknown names, missing required inputs, values of
 * the wrong type. Text values (from `--input key=value`) are converted to the declared type.
 * Returns the inputs with defaults filled in, or the problems.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkInputs = (
  file: WorkflowFile.WorkflowFile,
  provided: Readonly<Record<string, unknown>>
): Result.Result<Record<string, unknown>, ReadonlyArray<Problem>> => {
  const declared = file.inputs ?? {}
  const problems: Array<Problem> = []
  const values: Record<string, unknown> = {}
  for (const name of Object.keys(provided)) {
    if (!(name in declared)) {
      problems.push({
        path: ["inputs"],
        message: `unknown input "${name}"; declared inputs: ${list(Object.keys(declared))}.${suggest(name, Object.keys(declared))}`
      })
    }
  }
  for (const [name, raw] of Object.entries(declared)) {
    const spec = WorkflowFile.inputSpec(raw)
    const path = ["inputs", name]
    const value = provided[name] ?? spec.default
    if (value === undefined) {
      problems.push({ path, message: `missing input "${name}" (${spec.type}${spec.description !== undefined ? `: ${spec.description}` : ""}); pass --input ${name}=...` })
      continue
    }
    const converted = convert(spec.type, value)
    if (converted === undefined) problems.push({ path, message: `input "${name}" must be ${article(spec.type)}, got ${shownValue(value)}` })
    else values[name] = converted
  }
  return problems.length > 0 ? Result.fail(problems) : Result.succeed(values)
}

const article = (type: string): string => (type === "integer" ? "an integer" : `a ${type}`)

const convert = (type: typeof WorkflowFile.InputType.Type, value: unknown): unknown => {
  switch (type) {
    case "string":
      return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : undefined
    case "number":
    case "integer": {
      const number = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN
      if (!Number.isFinite(number)) return undefined
      return type === "integer" && !Number.isInteger(number) ? undefined : number
    }
    case "boolean":
      if (typeof value === "boolean") return value
      return value === "true" ? true : value === "false" ? false : undefined
  }
}
