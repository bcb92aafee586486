// Loads a composition of config sections in a fresh temp directory, with an explicit
// environment (no variable of the developer's shell leaks in).
import { NodeServices } from "@effect/platform-node"
import { ConfigProvider, Effect, FileSystem, Path } from "effect"
import type { Schema } from "effect"
import type * as ConfigSection from "../../src/ConfigSection.ts"
import * as ConfigLoader from "../../src/internal/configLoader.ts"

export interface Setup {
  readonly files?: Record<string, string>
  readonly env?: Record<string, string>
  readonly flags?: Record<string, unknown>
}

/** A loader for a test composition: the file is `demo.yaml` or the one `DEMO_CONFIG` names. */
export const loaderOf = <Sections extends ReadonlyArray<ConfigSection.Any>>(
  composition: ConfigSection.Composition<Sections>,
  schema: Schema.Codec<object, unknown>
): ConfigLoader.Loader<Sections> => ({ composition, schema, configEnv: "DEMO_CONFIG", defaultFile: "demo.yaml" })

/** Loads with `loader` from a temp directory holding `files`. */
export const loadSections = <Sections extends ReadonlyArray<ConfigSection.Any>>(
  loader: ConfigLoader.Loader<Sections>,
  setup: Setup
) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-section-" }))
    for (const [name, text] of Object.entries(setup.files ?? {})) yield* Effect.orDie(fs.writeFileString(path.join(dir, name), text))
    return yield* ConfigLoader.load(loader, { cwd: dir, flags: setup.flags }).pipe(
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(setup.env ?? {})))
    )
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

