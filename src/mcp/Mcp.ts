/**
 * Tools from MCP servers for our agent loop. {@link tools} connects to an MCP server (a command
 * started over stdio, or a streamable HTTP URL) with `effect/ai`'s `McpClient`, lists its tools,
 * and returns them as `Agent.ToolHandler`s: each MCP tool's input schema becomes our tool
 * declaration (names made valid for every provider), and each call the model makes runs the MCP
 * tool with a timeout. The agent loop gives every call the same budget checkpoints as any other
 * tool (a step is refused before it is sent when the budget cannot pay it).
 *
 * A server that cannot be started, does not answer, dies or hangs never leaves the agent stuck:
 * connecting and listing fail with a typed {@link McpError} after their timeouts; a call fails with a
 * tool failure naming the server and the reason (the model sees it as the tool's result, or the
 * run fails, as `Agent.run`'s `onToolError` says). The connection lives in the caller's scope.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Result, Schema, type Scope } from "effect"
import * as McpClient from "effect/ai/McpClient"
import type * as McpClientError from "effect/ai/McpClientError"
import * as McpProtocol from "effect/ai/McpProtocol"
import type * as McpSchema from "effect/ai/McpSchema"
import type { HttpClient } from "effect/http"
import * as ChildProcess from "effect/process/ChildProcess"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import type * as Agent from "../agent/Agent.ts"
import * as Tool from "../Tool.ts"
import * as ToolCall from "../ToolCall.ts"

/**
 * An MCP server started as a subprocess and spoken to over stdio.
 *
 * @since 0.1.0
 * @category models
 */
export interface StdioServer {
  readonly command: string
  readonly args?: ReadonlyArray<string> | undefined
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly cwd?: string | undefined
}

/**
 * An MCP server reached over streamable HTTP.
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpServer {
  readonly url: string
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type Server = StdioServer | HttpServer

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** A name for errors and tool descriptions (default: the command or the URL's host). */
  readonly name?: string | undefined
  /** The most listing the tools or one tool call may take (default 30 seconds). */
  readonly timeout?: Duration.Input | undefined
  /** The most starting the server and the MCP handshake may take (default 30 seconds). */
  readonly connectTimeout?: Duration.Input | undefined
  /** Put before every tool's name (e.g. `"files_"`), to keep several servers' tools apart. */
  readonly prefix?: string | undefined
  /** The MCP revision to speak: 2025-11-25 (the default, stateful sessions) or 2026-07-28 (stateless); effect/ai's client speaks no older one. */
  readonly protocol?: McpProtocol.ProtocolAdapter<McpClient.ProtocolVersion> | undefined
}

/**
 * An MCP server could not be used: it did not start, did not answer within the timeout, closed
 * the connection, or answered with an error.
 *
 * @since 0.1.0
 * @category errors
 */
export class McpError extends Schema.TaggedError<McpError>()("McpError", {
  server: Schema.String,
  operation: Schema.Literals(["connect", "list-tools", "call-tool"]),
  description: Schema.String
}) {
  override get message(): string {
    return `MCP server ${this.server}: ${this.operation} failed: ${this.description}`
  }
}

const DEFAULT_TIMEOUT = Duration.seconds(30)

const isStdio = (server: Server): server is StdioServer => "command" in server

const nameOf = (server: Server, options: Options | undefined): string => {
  if (options?.name !== undefined) return options.name
  if (isStdio(server)) return server.command
  try {
    return new URL(server.url).host
  } catch {
    return server.url
  }
}

const describe = (error: McpClientError.McpClientError | unknown): string =>
  error instanceof Error ? error.message : String(error)

// Our tool names are [A-Za-z_][A-Za-z0-9_-]{0,63} (the strictest of the providers' rules); MCP
// names are free text. Invalid characters become "_", and a clash gets a numbered suffix.
const toolNames = (tools: ReadonlyArray<McpSchema.Tool>, prefix: string): ReadonlyArray<string> => {
  const taken = new Set<string>()
  return tools.map((tool) => {
    let name = `${prefix}${tool.name}`.replace(/[^A-Za-z0-9_-]/g, "_")
    if (!/^[A-Za-z_]/.test(name)) name = `_${name}`
    name = name.slice(0, 64)
    let unique = name
    for (let n = 2; taken.has(unique); n++) unique = `${name.slice(0, 64 - String(n).length - 1)}_${n}`
    taken.add(unique)
    return unique
  })
}

/** A tool's result as the model reads it: its structured content, else its text parts. */
const resultOf = (result: McpSchema.CallToolResult): unknown => {
  if (result.structuredContent !== undefined) return result.structuredContent
  const texts: Array<string> = []
  for (const part of result.content) {
    if (part.type === "text") texts.push(part.text)
    else texts.push(`[${part.type} content omitted]`)
  }
  return texts.join("\n")
}

/**
 * Connects to an MCP server and returns its tools as handlers for `Agent.run`. The connection
 * (and the subprocess) ends when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const tools = yield* Mcp.tools({ command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "."] })
 * const result = yield* Agent.run({ prompt: "List the files", tools })
 */
export const tools: {
  (server: StdioServer, options?: Options): Effect.Effect<ReadonlyArray<Agent.ToolHandler>, McpError, Scope.Scope | ChildProcessSpawner>
  (server: HttpServer, options?: Options): Effect.Effect<ReadonlyArray<Agent.ToolHandler>, McpError, Scope.Scope | HttpClient.HttpClient>
} = ((server: Server, options?: Options) =>
  Effect.gen(function*() {
    const name = nameOf(server, options)
    const timeout = Duration.fromInputUnsafe(options?.timeout ?? DEFAULT_TIMEOUT)
    const connectTimeout = Duration.fromInputUnsafe(options?.connectTimeout ?? DEFAULT_TIMEOUT)
    const protocol = options?.protocol ?? McpProtocol.v2025_11_25
    const fail = (operation: McpError["operation"]) => (error: unknown) =>
      new McpError({ server: name, operation, description: describe(error) })
    const transport: Effect.Effect<
      McpClient.Transport,
      McpClientError.McpClientError,
      Scope.Scope | ChildProcessSpawner | HttpClient.HttpClient
    > = isStdio(server)
      ? McpClient.stdio({
        command: ChildProcess.make(server.command, [...(server.args ?? [])], {
          ...(server.cwd !== undefined ? { cwd: server.cwd } : {}),
          ...(server.env !== undefined ? { env: { ...server.env }, extendEnv: true } : {})
        }),
        protocol
      })
      : McpClient.http({ url: server.url, protocol, ...(server.headers !== undefined ? { headers: server.headers } : {}) })
    const client = yield* McpClient.make({ name: "llm-connect", version: "0.1.0", timeout: connectTimeout }).pipe(
      Effect.provideServiceEffect(McpClient.Transport, transport),
      Effect.timeoutOrElse({ duration: connectTimeout, orElse: () => Effect.fail(`no answer within ${Duration.format(connectTimeout)}`) }),
      Effect.mapError(fail("connect"))
    )
    const listed = yield* client.listTools({ timeout }).pipe(
      Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(`no answer within ${Duration.format(timeout)}`) }),
      Effect.mapError(fail("list-tools"))
    )
    const names = toolNames(listed, options?.prefix ?? "")
    const handlers: Array<Agent.ToolHandler> = []
    for (let index = 0; index < listed.length; index++) {
      const mcpTool = listed[index]!
      const declared = Tool.fromDefinition({
        name: names[index]!,
        description: `${mcpTool.description ?? mcpTool.title ?? mcpTool.name} (MCP server ${name})`,
        parameters: { ...mcpTool.inputSchema }
      })
      if (Result.isFailure(declared)) {
        return yield* new McpError({ server: name, operation: "list-tools", description: `tool ${mcpTool.name}: ${declared.failure}` })
      }
      handlers.push({
        tool: declared.success,
        execute: (call) => {
          if (ToolCall.isUnparsed(call)) {
            return Effect.fail({
              _tag: "InvalidArguments" as const,
              message: `the arguments of ${call.name} are not JSON (${call.argumentsError}); send them again as one JSON object`
            })
          }
          const args = (typeof call.arguments === "object" && call.arguments !== null ? call.arguments : {}) as Record<string, unknown>
          return client.callTool({ tool: mcpTool, arguments: args }, { timeout }).pipe(
            Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(`no answer within ${Duration.format(timeout)}`) }),
            Effect.mapError((error): Agent.ToolFailure => {
              const failure = fail("call-tool")(error)
              return { _tag: "Failed", message: failure.message, error: failure }
            }),
            Effect.flatMap((result) =>
              result.isError === true
                ? Effect.fail<Agent.ToolFailure>({
                  _tag: "Failed",
                  message: `MCP tool ${mcpTool.name} failed: ${String(resultOf(result))}`,
                  error: result
                })
                : Effect.succeed(resultOf(result))
            )
          )
        }
      })
    }
    return handlers
  })) as never
