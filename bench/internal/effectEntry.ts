/**
 * The `effect` a bench preload counts in: the nearest `node_modules/effect` above the script the
 * preload runs under (so that an A/B between two trees counts each tree's own copy), loaded only
 * when the preload's output folder is set.
 */
import { existsSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { pathToFileURL } from "node:url"

const effectOf = (from: string): string | undefined => {
  const entry = join(from, "node_modules/effect/dist/index.js")
  if (existsSync(entry)) return entry
  const up = dirname(from)
  return up === from ? undefined : effectOf(up)
}

/**
 * The folder named by `$<dirVariable>` and that `effect`, when the variable is set and the script
 * has an `effect` above it; else `undefined` (the preload then does nothing).
 */
export const loadEffect = async (
  dirVariable: string
): Promise<{ readonly dir: string; readonly effect: typeof import("effect") } | undefined> => {
  const dir = process.env[dirVariable]
  const script = process.argv[1]
  const entry = script === undefined ? undefined : effectOf(dirname(resolve(script)))
  if (dir === undefined || dir === "" || entry === undefined) return undefined
  return { dir, effect: (await import(pathToFileURL(entry).href)) as typeof import("effect") }
}
