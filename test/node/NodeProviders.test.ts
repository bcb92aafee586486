/**
 * `llm-connect/node` (src/node/): the built-in providers on Node's transport, kept out of the
 * root entry so that importing `llm-connect` does not load `@effect/platform-node`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { NodeProviders } from "../../src/node/index.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"

const src = join(import.meta.dirname, "..", "..", "src")

/** Every module the given one loads at start-up (static imports, not `import type`), transitively. */
const staticImports = (entry: string): { readonly modules: ReadonlySet<string>; readonly packages: ReadonlySet<string> } => {
  const modules = new Set<string>()
  const packages = new Set<string>()
  const visit = (file: string) => {
    if (modules.has(file)) return
    modules.add(file)
    const text = readFileSync(file, "utf8")
    for (const match of text.matchAll(/^(?:import|export)\s+(?!type\b)[^"'`]*?from\s+"([^"]+)"/gm)) {
      const target = match[1]!
      if (target.startsWith(".")) visit(resolve(dirname(file), target))
      // The package a specifier names (`@scope/name/Module` -> `@scope/name`, `name/sub` -> `name`).
      else packages.add(target.split("/").slice(0, target.startsWith("@") ? 2 : 1).join("/"))
    }
  }
  visit(entry)
  return { modules, packages }
}

describe("llm-connect/node", () => {
  it("the root entry does not load @effect/platform-node; the node entry does", () => {
    const root = staticImports(join(src, "index.ts"))
    assert.isAbove(root.modules.size, 50)
    assert.notInclude([...root.packages], "@effect/platform-node")
    assert.include([...staticImports(join(src, "node", "index.ts")).packages], "@effect/platform-node")
  })

  it.live("NodeProviders.layer holds every built-in provider", () =>
    Effect.gen(function*() {
      const names = (yield* ProviderRegistry.ProviderRegistry.use((registry) => registry.list)).map((provider) => provider.name)
      assert.deepStrictEqual(names, ["mock", "openai", "openrouter", "openai-compatible", "gemini", "anthropic", "claude-code"])
    }).pipe(Effect.provide(NodeProviders.layer)))
})
