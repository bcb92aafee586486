import { followParent, runInOwnProcess, wantsOwnProcess } from "./serveProcess.ts"

const argv = process.argv.slice(2)
// `serve` runs in a process of its own with a smaller young generation (ADR 0042); the CLI is
// loaded only in the process that runs the command.
if (wantsOwnProcess(argv, process.execArgv, process.env)) {
  runInOwnProcess(argv)
} else {
  followParent()
  // serve's providers keep idle connections longer (`NodeServe.providers`, ADR 0044).
  void import("./main.ts").then(async ({ main }) => argv[0] === "serve" ? main(argv, (await import("../node/NodeServe.ts")).providers) : main(argv))
}
