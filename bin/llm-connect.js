#!/usr/bin/env node
// The `llm-connect` command as installed by npm.
//
// Plain JavaScript with nothing imported before the version check, so that an old Node prints
// one actionable line instead of a syntax or module-loading error from deep inside a dependency.
// Only then does it load the compiled CLI from dist/ (see docs/decisions/0005-run-sources-or-dist.md).
// No top-level await here, for the same reason (any Node that runs ES modules can parse this file).

const REQUIRED = "22.19"
const parts = process.versions.node.split(".")
const major = Number(parts[0])
const minor = Number(parts[1])

if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    "llm-connect needs Node.js >= " + REQUIRED + " but this is " + process.version +
      "; install Node 24 (nvm install 24, or npm i -g node@24) and run it again.\n"
  )
  process.exit(2)
}

const entry = new URL("../dist/cli/bin.js", import.meta.url)

import("node:fs").then(function(fs) {
  if (!fs.existsSync(entry)) {
    process.stderr.write(
      "llm-connect is not built (no dist/cli/bin.js): run `npm run build`, or in a clone run `npm start -- <args>` (any Node: npm runs the pinned Node 24).\n"
    )
    process.exit(2)
  }
  return import(entry.href)
})
