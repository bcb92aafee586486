/**
 * An interleaved A/B of `bench/stack-http.ts` between two trees (issue 13 item 11, stop 28): each
 * round runs the script of the base tree and of this tree, one process each, the order rotating
 * every round, and reads from each table the bare adapter's and the chosen variants' CPU µs per
 * call and their paired cost over the bare adapter (the table's "over bare (paired)"), at C=1 and
 * C=100. Printed: per round, and the medians over rounds of each figure and of the per-round
 * differences (this tree - base). The load average is printed with every round.
 *
 *   node bench/stack-http-ab.ts --base /tmp/e-base [--rounds 8] [--only whole,timeout] [--reps 4] [--calls 500]
 *
 * Each tree runs with the Node of its own `node_modules/.bin` when it has one (else this Node).
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { argument, loadAverage, median, option } from "./internal/stats.ts"

const BASE = option("base", "")
const ROUNDS = argument("rounds", 8)
const ONLY = option("only", "whole")
const REPS = argument("reps", 4)
const CALLS = argument("calls", 500)
const NAMES: Record<string, string> = {
  bare: "bare openai-compatible adapter",
  noobs: "stack without observability (retry)",
  default: "default stack (observability, retry)",
  concurrency: "+ concurrency limits",
  rpm: "+ rate limit (rpm)",
  whole: "+ budget = whole stack",
  timeout: "whole + attempt timeout 2m (fromConfig's default)"
}

if (BASE === "" || !existsSync(join(BASE, "bench/stack-http.ts"))) {
  console.error("--base: a tree with bench/stack-http.ts (e.g. a worktree of the base commit with node_modules)")
  process.exit(2)
}
const trees = [["base", resolve(BASE)], ["this", resolve(new URL("..", import.meta.url).pathname)]] as const

// A table row of `stack-http.ts`: CPU µs per call and paired cost over bare, by concurrency and variant.
type Figures = Map<string, { readonly cpu: number; readonly paired: number }>
const runTree = (dir: string): Promise<Figures> =>
  new Promise((done, reject) => {
    const nodeOf = join(dir, "node_modules/.bin/node")
    const node = existsSync(nodeOf) ? nodeOf : process.execPath
    const child = spawn(node, ["bench/stack-http.ts", "--only", ONLY, "--reps", String(REPS), "--calls", String(CALLS), "--sc008-reps", "0", "--no-sdk"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout!.on("data", (chunk) => void (out += chunk))
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`${dir}: exit ${code}`))
      const figures: Figures = new Map()
      let concurrency = ""
      for (const line of out.split("\n")) {
        const section = /^concurrency (\d+)/.exec(line)
        if (section !== null) concurrency = section[1]!
        for (const [key, name] of Object.entries(NAMES)) {
          // (console.table quotes a name with an apostrophe in double quotes)
          if (!line.includes(`'${name}'`) && !line.includes(`"${name}"`)) continue
          const cells = line.split("│").map((cell) => cell.trim().replace(/^'|'$/g, ""))
          // │ index │ variant │ CPU µs/call │ over bare adapter │ over bare (paired) │ ...
          figures.set(`${concurrency}/${key}`, { cpu: Number(cells[3]), paired: Number(cells[5]) })
        }
      }
      done(figures)
    })
  })

const main = async () => {
  const keys = ["bare", ...ONLY.split(",").filter((key) => key !== "bare")]
  const results = new Map<string, Array<Figures>>(trees.map(([name]) => [name, []]))
  console.log(`stack-http.ts A/B, ${ROUNDS} rounds, --only ${ONLY} --reps ${REPS} --calls ${CALLS}; base ${trees[0][1]}, this ${trees[1][1]}`)
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? trees : [trees[1], trees[0]] as const
    const line: Array<string> = []
    for (const [name, dir] of order) {
      const figures = await runTree(dir)
      results.get(name)!.push(figures)
      line.push(`${name}: ${[1, 100].map((c) => keys.map((key) => `${key}@${c} ${figures.get(`${c}/${key}`)?.[key === "bare" ? "cpu" : "paired"].toFixed(1)}`).join(" ")).join(" | ")}`)
    }
    console.log(`round ${round + 1} (load ${loadAverage()}): ${line.join("  //  ")}`)
  }
  const rows: Array<Record<string, string>> = []
  for (const concurrency of [1, 100]) {
    for (const key of keys) {
      const id = `${concurrency}/${key}`
      const base = results.get("base")!.map((figures) => figures.get(id)!)
      const mine = results.get("this")!.map((figures) => figures.get(id)!)
      rows.push({
        "C": String(concurrency),
        variant: NAMES[key]!,
        "base µs/call": median(base.map((f) => f.cpu)).toFixed(1),
        "this µs/call": median(mine.map((f) => f.cpu)).toFixed(1),
        "diff µs/call (median of rounds)": median(mine.map((f, index) => f.cpu - base[index]!.cpu)).toFixed(1),
        ...(key === "bare" ? {} : {
          "base over bare (paired)": median(base.map((f) => f.paired)).toFixed(1),
          "this over bare (paired)": median(mine.map((f) => f.paired)).toFixed(1),
          "diff of paired (median of rounds)": median(mine.map((f, index) => f.paired - base[index]!.paired)).toFixed(1)
        })
      })
    }
  }
  console.table(rows)
  console.log(`load ${loadAverage()}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
