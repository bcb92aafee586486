/**
 * The synchronous check `createClient` runs before it returns: the options resolved by
 * `LlmConnectConfig.fromOptions` (the CLI's Schema and messages), then `Stack.stackConfig`
 * (the provider is registered, its key and the fallback candidates' keys are found), all on
 * services that answer at once: node:fs's synchronous reads for key files, the posix `Path`,
 * and a registry of the built-in providers whose transport refuses to be used (this pass never
 * makes a model: the client's runtime builds the real stack on Node's transport).
 *
 * @internal
 */
import { readFileSync, statSync } from "node:fs"
import { ByteSize, ConfigProvider, Effect, type Exit, FileSystem, Layer, Option, Path, PlatformError } from "effect"
import { HttpClient } from "effect/http"
import { ChildProcessSpawner } from "effect/process"
import * as LlmConnectConfig from "../../LlmConnectConfig.ts"
import * as ProviderRegistry from "../../ProviderRegistry.ts"
import * as BuiltinProviders from "../../providers/BuiltinProviders.ts"
import * as Stack from "../../Stack.ts"

const failure = (method: string, path: string, cause: unknown) =>
  PlatformError.systemError({
    _tag: (cause as { readonly code?: string } | null)?.code === "ENOENT" ? "NotFound" : "Unknown",
    module: "FileSystem",
    method,
    pathOrDescriptor: path,
    cause
  })

const fileSystem = FileSystem.makeNoop({
  readFileString: (path) => Effect.try({ try: () => readFileSync(path, "utf8"), catch: (cause) => failure("readFileString", path, cause) }),
  exists: (path) => Effect.sync(() => statSync(path, { throwIfNoEntry: false }) !== undefined),
  stat: (path) =>
    Effect.try({
      try: () => {
        const info = statSync(path)
        const stat: FileSystem.File.Info = {
          type: info.isFile() ? "File" : info.isDirectory() ? "Directory" : "Unknown",
          mtime: Option.some(info.mtime),
          atime: Option.some(info.atime),
          birthtime: Option.some(info.birthtime),
          dev: BigInt(info.dev),
          ino: Option.some(BigInt(info.ino)),
          mode: info.mode,
          nlink: Option.some(BigInt(info.nlink)),
          uid: Option.some(info.uid),
          gid: Option.some(info.gid),
          rdev: Option.some(BigInt(info.rdev)),
          size: ByteSize.bytes(BigInt(info.size)),
          blksize: Option.some(ByteSize.bytes(BigInt(info.blksize))),
          blocks: Option.some(BigInt(info.blocks))
        }
        return stat
      },
      catch: (cause) => failure("stat", path, cause)
    })
})

const unused = (what: string) => Effect.die(new Error(`the createClient check does not use the ${what}`))

const services = Layer.mergeAll(
  Layer.succeed(FileSystem.FileSystem, fileSystem),
  Path.layer,
  Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => unused("HTTP client"))),
  Layer.succeed(ChildProcessSpawner.ChildProcessSpawner, ChildProcessSpawner.make(() => unused("process spawner")))
)

const registry = Layer.effect(ProviderRegistry.ProviderRegistry, Effect.flatMap(BuiltinProviders.make, ProviderRegistry.make))

/**
 * Resolves and checks client options at once: the resolved configuration, or the first error
 * as an Exit (never a thrown exception). Key variables are read through `environment`, the
 * process environment as it is when the client is created (the client's stack reads the same).
 */
export const check = (
  options: unknown,
  environment: ConfigProvider.ConfigProvider
): Exit.Exit<LlmConnectConfig.Resolved, unknown> =>
  Effect.runSyncExit(
    Effect.gen(function*() {
      const resolved = yield* LlmConnectConfig.fromOptions(options)
      yield* Stack.stackConfig(resolved)
      return resolved
    }).pipe(
      Effect.provide(Layer.provideMerge(registry, services)),
      Effect.provideService(ConfigProvider.ConfigProvider, environment)
    )
  )
