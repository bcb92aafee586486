/**
 * How close the local token estimates come to the exact count, on a varied corpus
 * (`test/fixtures/tokenizer/corpus.json`: English, code, JSON, non-Latin scripts, emoji).
 *
 * Reference: `Tokenizer.countRequest`, the `o200k_base` BPE count with chat framing, which is
 * what current OpenAI models bill (the mock provider reports exactly this). Compared:
 * - `Tokenizer.boundRequest`: UTF-8 bytes + framing, the budget's cheap upper bound;
 * - characters / 4 + framing: the common rule of thumb (not used by llm-connect);
 * - the `cl100k_base` count: what an older OpenAI tokenizer gives, i.e. the error when the
 *   provider's tokenizer is not the one we count with (as for Gemini or Claude).
 *
 * Prints, per text and per kind, the estimate / exact ratio. Also times the estimators
 * (medians), since the bound exists because it is cheap.
 *
 *   node bench/tokenizer-estimate.ts
 */
import { countTokens as countCl100k } from "gpt-tokenizer/encoding/cl100k_base"
import { readFileSync } from "node:fs"
import type { LlmRequest } from "../src/LlmRequest.ts"
import * as Tokenizer from "../src/Tokenizer.ts"
import { median } from "./internal/stats.ts"

interface Text {
  readonly name: string
  readonly kind: string
  readonly text: string
}
const corpus = JSON.parse(readFileSync(new URL("../test/fixtures/tokenizer/corpus.json", import.meta.url), "utf8")) as {
  readonly texts: ReadonlyArray<Text>
}

const framing = Tokenizer.REQUEST_FRAMING_TOKENS + Tokenizer.MESSAGE_FRAMING_TOKENS
const requestOf = (text: string): LlmRequest => ({ messages: [{ role: "user", content: text }] })
const charsOver4 = (text: string) => Math.ceil([...text].length / 4) + framing
const cl100k = (text: string) => countCl100k(text) + framing

interface Row {
  readonly name: string
  readonly kind: string
  readonly chars: number
  readonly exact: number
  readonly bound: number
  readonly quarter: number
  readonly cl100k: number
}

const rows: Array<Row> = corpus.texts.map(({ kind, name, text }) => {
  const request = requestOf(text)
  return {
    name,
    kind,
    chars: [...text].length,
    exact: Tokenizer.countRequest(request),
    bound: Tokenizer.boundRequest(request),
    quarter: charsOver4(text),
    cl100k: cl100k(text)
  }
})

const ratio = (a: number, b: number) => (a / b).toFixed(2)
const pad = (text: string, width: number) => text.padEnd(width)
const num = (text: string, width: number) => text.padStart(width)

console.log("token estimates against the exact o200k count (ratio = estimate / exact)\n")
console.log(
  `${pad("text", 22)}${pad("kind", 11)}${num("chars", 6)}${num("exact", 7)}${num("bound", 7)}${num("ratio", 7)}` +
    `${num("c/4", 6)}${num("ratio", 7)}${num("cl100k", 8)}${num("ratio", 7)}`
)
for (const row of rows) {
  console.log(
    `${pad(row.name, 22)}${pad(row.kind, 11)}${num(String(row.chars), 6)}${num(String(row.exact), 7)}` +
      `${num(String(row.bound), 7)}${num(ratio(row.bound, row.exact), 7)}${num(String(row.quarter), 6)}` +
      `${num(ratio(row.quarter, row.exact), 7)}${num(String(row.cl100k), 8)}${num(ratio(row.cl100k, row.exact), 7)}`
  )
}

const summary = (label: string, selected: ReadonlyArray<Row>) => {
  const sum = (pick: (row: Row) => number) => selected.reduce((total, row) => total + pick(row), 0)
  const exact = sum((row) => row.exact)
  const worst = (pick: (row: Row) => number) => {
    const ratios = selected.map((row) => pick(row) / row.exact)
    return `${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}`
  }
  console.log(
    `${pad(label, 12)} bound ${ratio(sum((row) => row.bound), exact)} (${worst((row) => row.bound)})  ` +
      `chars/4 ${ratio(sum((row) => row.quarter), exact)} (${worst((row) => row.quarter)})  ` +
      `cl100k ${ratio(sum((row) => row.cl100k), exact)} (${worst((row) => row.cl100k)})`
  )
}
console.log("\nper kind: pooled ratio (min..max per text)")
for (const kind of [...new Set(rows.map((row) => row.kind))]) summary(kind, rows.filter((row) => row.kind === kind))
summary("all", rows)
console.log(`\nbound >= exact on every text: ${rows.every((row) => row.bound >= row.exact)}`)

// Cost of each estimator on the whole corpus (medians of 15 runs), as a ratio to the bound.
const timeIt = (run: () => void) => {
  const samples: Array<number> = []
  for (let rep = 0; rep < 15; rep++) {
    const started = process.hrtime.bigint()
    for (let i = 0; i < 20; i++) run()
    samples.push(Number(process.hrtime.bigint() - started) / 1e3 / 20)
  }
  return median(samples)
}
const requests = corpus.texts.map(({ text }) => requestOf(text))
const boundTime = timeIt(() => requests.forEach(Tokenizer.boundRequest))
const exactTime = timeIt(() => requests.forEach(Tokenizer.countRequest))
console.log(
  `\ntime for the whole corpus (${rows.reduce((total, row) => total + row.chars, 0)} chars): bound ${boundTime.toFixed(1)} µs, ` +
    `exact ${exactTime.toFixed(1)} µs (${(exactTime / boundTime).toFixed(0)}x the bound)`
)
