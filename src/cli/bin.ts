import { followParent, runInOwnProcess, wantsOwnProcess } from "./serveProcess.ts"

const argv = process.argv.slice(2)
// `serve` runs in a process of its own with a smaller young generation (ADR 0042); the CLI is
// loaded only in the process that runs the command.
if (wantsOwnProcess(argv, process.execArgv, process.env)) {
  runInOwnProcess(argv)
} else {
  followParent()
  // serve's providers keep idle connections longer (`NodeServe.providers`, ADR 0044), on the lean
  // node:http client unless `LLM_CONNECT_SERVE_TRANSPORT=undici` (ADR 0059).
  void import("./main.ts").then(async ({ main }) => {
    if (argv[0] !== "serve") return main(argv)
    const NodeServe = await import("../node/NodeServe.ts")
    return main(argv, process.env.LLM_CONNECT_SERVE_TRANSPORT === "undici" ? NodeServe.providersUndici : NodeServe.providers)
  })
}
