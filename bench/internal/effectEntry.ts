/**
 * The `effect` a bench preload counts in: the nearest `node_modules/effect` above the script the
 * preload runs under (so that an A/B between two trees counts each tree's own copy).
 */
import { existsSync } from "node:fs"
import { dirname, join, resolve } from "node:path"

const effectOf = (from: string): string | undefined => {
  const entry = join(from, "node_modules/effect/dist/index.js")
  if (existsSync(entry)) return entry
  const up = dirname(from)
  return up === from ? undefined : effectOf(up)
}

/** The path of that `effect`'s entry module, if there is one. */
export const effectEntry = (script: string | undefined): string | undefined =>
  script === undefined ? undefined : effectOf(dirname(resolve(script)))
