/**
 * Where a CPU profile of serve spends its time (issue 16, stop 27): reads a `.cpuprofile`
 * (`node --cpu-prof`, e.g. a `bench/serve-ab.ts` variant with `"node": ["--cpu-prof", ...]`) and
 * prints, for the samples between two offsets (seconds from the profile's start; idle excluded):
 *
 * - `timeline`: the busy share of each second (to find the loaded windows after the warm-up);
 * - `parts` (default): each sample given to the innermost frame on its stack that names a part of
 *   serve (its core and doors, body read and decode, the answer's encoding, the access log, the
 *   ledger, metrics, the model lookup, the stack's layers, the provider call, the HTTP server),
 *   as shares and, given the process's CPU µs per request, as µs per request;
 * - `self`: self time per function;
 * - `turns` (stop 30): the busy stretches between idle samples (an event-loop turn, or several
 *   back to back; on a loaded machine also the time the thread waited for a CPU): their count and
 *   lengths, the share of busy time in stretches of `--long` ms or more (5), and the parts of those.
 *
 *   node bench/cpu-profile.ts FILE [timeline|parts|self|turns] [--from 12] [--to 60] [--us-per-request 659] [--top 30] [--long 5]
 *
 * Cut the window to the loaded seconds (`timeline`): the start-up and the shutdown (SIGTERM's drain,
 * the stacks closed, the ledger flushed) are not per-request work.
 */
import { readFileSync } from "node:fs"
import { argument } from "./internal/stats.ts"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const file = process.argv[2]
if (file === undefined || file.startsWith("--")) {
  console.error("usage: node bench/cpu-profile.ts FILE [timeline|parts|self] [--from S] [--to S] [--us-per-request N] [--top N]")
  process.exit(2)
}
const mode = process.argv[3] !== undefined && !process.argv[3].startsWith("--") ? process.argv[3] : "parts"
const FROM = argument("from", 0)
const TO = argument("to", 1e9)
const PER_REQUEST = argument("us-per-request", 0)
const TOP = argument("top", 30)
const LONG_MS = argument("long", 5)

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const parentOf = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)

const name = (frame: CallFrame) =>
  `${frame.functionName === "" ? "(anonymous)" : frame.functionName} ${frame.url.replace(/.*\/(node_modules|src)\//, "$1/")}:${frame.lineNumber + 1}`

// The parts, tried on each frame from the sample's own outwards: the first frame naming one wins.
const PARTS: ReadonlyArray<readonly [string, RegExp]> = [
  ["garbage collection", /^\(garbage collector\)/],
  // `llm-connect serve`'s writer (src/cli/commands/handlers/serve.ts; before stop 27, an anonymous
  // closure there writing each line: give that tree's profile `--to` before its shutdown).
  ["access log", /^(writeAccessLines|queueAccessLine) |^\(anonymous\) src\/cli\/commands\/handlers\/serve\.ts:7[0-9]$/],
  ["usage ledger (SQLite, batch writer)", /batchWriter|UsageLedger|sql-sqlite|SqliteClient|node:sqlite|sql\/Statement/],
  ["metrics", /LlmMetrics|effect\/dist\/Metric\.js/],
  ["tokenizer", /gpt-tokenizer|src\/Tokenizer\.ts/],
  ["request body read + JSON parse + reading/decoding", /bodyJson|parseJson|toLlmRequest|readRequest|BridgeContract\.ts|NodeHttpIncomingMessage/],
  ["the answer: mapping + JSON encode", /^completion |choiceMessage|jsonUnsafe|HttpBody\.js|^toResponse src\/bridge|^json src\/server/],
  ["model call: provider adapter, HttpClient, undici", /src\/providers\/|undici|effect\/dist\/http\/HttpClient|NodeHttpClient|http\/UrlParams/],
  ["model call: the stack's layers", /src\/(observability|budget|resilience|internal|routing)\/|src\/Stack\.ts|src\/LanguageModel\.ts|src\/ModelFactory/],
  ["model lookup (Bridge.modelFor, registry, RcMap)", /src\/bridge\/Bridge\.ts|ProviderRegistry|ModelRouter|RcMap/],
  ["serve's core and doors (src/server)", /src\/server\//],
  ["HTTP server (node:http, Effect's HttpServer and router)", /NodeHttpServer|_http_server|_http_incoming|_http_outgoing|_http_common|HttpRouter|HttpEffect|HttpServerResponse|HttpServerRequest|http\/Headers|HttpTraceContext/]
]
const partOf = (leaf: ProfileNode): string => {
  for (let id: number | undefined = leaf.id; id !== undefined; id = parentOf.get(id)) {
    const frame = byId.get(id)!.callFrame
    const named = name(frame)
    for (const [part, pattern] of PARTS) if (pattern.test(named)) return part
  }
  const frame = leaf.callFrame
  if (frame.functionName === "writev" || frame.functionName === "writeBuffer") return "socket and file writes (no caller on the stack)"
  if (frame.url.includes("effect/dist")) return "Effect runtime (fiber steps, no caller of ours on the stack)"
  if (frame.url.startsWith("node:")) return "Node internals (streams, timers, events)"
  return frame.functionName.startsWith("(") ? frame.functionName : "other"
}

const totals = new Map<string, number>()
const perSecond = new Map<number, number>()
let clock = 0
let busy = 0
// `turns`: the stretches of busy samples, [length µs, the parts' µs in it].
const stretches: Array<{ length: number; parts: Map<string, number> }> = []
let stretch: { length: number; parts: Map<string, number> } | undefined
profile.samples.forEach((id, index) => {
  const delta = profile.timeDeltas[index] ?? 0
  clock += delta
  const node = byId.get(id)!
  if (node.callFrame.functionName === "(idle)") {
    if (stretch !== undefined) stretches.push(stretch)
    stretch = undefined
    return
  }
  if (mode === "turns" && clock / 1e6 >= FROM && clock / 1e6 <= TO) {
    stretch ??= { length: 0, parts: new Map() }
    stretch.length += delta
    const part = partOf(node)
    stretch.parts.set(part, (stretch.parts.get(part) ?? 0) + delta)
  }
  const second = Math.floor(clock / 1e6)
  perSecond.set(second, (perSecond.get(second) ?? 0) + delta)
  if (clock / 1e6 < FROM || clock / 1e6 > TO) return
  busy += delta
  const key = mode === "self" ? name(node.callFrame) : partOf(node)
  totals.set(key, (totals.get(key) ?? 0) + delta)
})

if (mode === "turns") {
  if (stretch !== undefined) stretches.push(stretch)
  const lengths = Float64Array.from(stretches.map((one) => one.length / 1000)).sort()
  const at = (p: number) => lengths[Math.min(lengths.length - 1, Math.floor((p / 100) * lengths.length))] ?? Number.NaN
  const long = stretches.filter((one) => one.length / 1000 >= LONG_MS)
  const longTime = long.reduce((sum, one) => sum + one.length, 0)
  const total = stretches.reduce((sum, one) => sum + one.length, 0)
  console.log(`${stretches.length} busy stretches between ${FROM} and ${Math.min(TO, clock / 1e6).toFixed(0)} s, ${(total / 1e6).toFixed(2)} s busy: p50 ${at(50).toFixed(2)} p90 ${at(90).toFixed(2)} p99 ${at(99).toFixed(2)} max ${(lengths.at(-1) ?? Number.NaN).toFixed(1)} ms`)
  console.log(`${long.length} of ${LONG_MS} ms or more: ${(100 * longTime / Math.max(1, total)).toFixed(1)} % of the busy time; their parts:`)
  const parts = new Map<string, number>()
  for (const one of long) for (const [part, time] of one.parts) parts.set(part, (parts.get(part) ?? 0) + time)
  for (const [part, time] of [...parts].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${(100 * time / Math.max(1, longTime)).toFixed(1).padStart(5)} %  ${part}`)
} else if (mode === "timeline") {
  console.log([...perSecond].map(([second, time]) => `${second}s ${(time / 1e4).toFixed(0)}%`).join("  "))
} else {
  console.log(`busy ${(busy / 1e6).toFixed(2)} s between ${FROM} and ${Math.min(TO, clock / 1e6).toFixed(0)} s`)
  for (const [key, time] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    const share = time / Math.max(1, busy)
    console.log(`${(100 * share).toFixed(1).padStart(5)} %${PER_REQUEST > 0 ? `  ${(share * PER_REQUEST).toFixed(0).padStart(5)} µs/req` : ""}  ${key}`)
  }
}
