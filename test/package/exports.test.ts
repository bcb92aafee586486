/**
 * The `exports` map of package.json, checked against `src/` without building: every entry
 * point exists, and every `internal/` folder is closed. (`pack.test.ts` checks the same on the
 * installed tarball; this one fails fast, with the line to add.)
 */
import { assert, describe, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"

const root = join(import.meta.dirname, "..", "..")
const src = join(root, "src")
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  readonly exports: Record<
    string,
    null | string | { readonly "llm-connect-source": string; readonly types: string; readonly default: string }
  >
  readonly bin: Record<string, string>
}

const internalFolders = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (!statSync(path).isDirectory()) return []
    return name === "internal" ? [relative(src, path)] : internalFolders(path)
  })

/** `./dist/x/y.js` -> `src/x/y.ts` */
const sourceOf = (target: string) => join(root, target.replace(/^\.\/dist\//, "src/").replace(/\.(d\.ts|js)$/, ".ts"))

describe("package.json exports", () => {
  it("closes every internal/ folder under src/", () => {
    const folders = internalFolders(src)
    assert.include(folders, "internal")
    for (const folder of folders) {
      assert.strictEqual(pkg.exports[`./${folder}/*`], null, `add "./${folder}/*": null to "exports" in package.json`)
    }
  })

  it("points every entry at a module that exists, with its types next to it", () => {
    for (const [key, target] of Object.entries(pkg.exports)) {
      if (target === null || typeof target === "string" || key.includes("*")) continue
      assert.isTrue(existsSync(sourceOf(target.default)), `${key} -> ${target.default}: no ${relative(root, sourceOf(target.default))}`)
      assert.strictEqual(target.types, target.default.replace(/\.js$/, ".d.ts"), key)
      // The sources condition (examples and tests import the package by name) names the same module.
      assert.strictEqual(join(root, target["llm-connect-source"]), sourceOf(target.default), key)
    }
    assert.deepStrictEqual(pkg.exports["./*"], {
      "llm-connect-source": "./src/*.ts",
      types: "./dist/*.d.ts",
      default: "./dist/*.js"
    })
    assert.isTrue(existsSync(join(root, pkg.bin["llm-connect"]!)))
  })
})
