/**
 * The usage ledger records what providers report; estimates are only for budgets. On the
 * fixture corpus (see bench/tokenizer-estimate.ts for the full table) the byte bound must never
 * undercount, while the chars/4 rule of thumb does on non-Latin scripts and emoji.
 */
import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Tokenizer from "../../src/Tokenizer.ts"

const corpus = JSON.parse(
  readFileSync(fileURLToPath(new URL("../fixtures/tokenizer/corpus.json", import.meta.url)), "utf8")
) as { readonly texts: ReadonlyArray<{ readonly name: string; readonly kind: string; readonly text: string }> }

describe("token estimates on the fixture corpus", () => {
  it.each(corpus.texts)("boundRequest never undercounts: $name", ({ text }) => {
    const request = { messages: [{ role: "user" as const, content: text }] }
    expect(Tokenizer.boundRequest(request)).toBeGreaterThanOrEqual(Tokenizer.countRequest(request))
  })

  it("covers English, code, JSON, non-Latin scripts and emoji", () => {
    expect(new Set(corpus.texts.map((entry) => entry.kind))).toEqual(
      new Set(["English", "code", "JSON", "non-Latin", "emoji", "mixed"])
    )
  })

  it("chars/4 undercounts CJK by a factor of about 3 (why budgets use the byte bound)", () => {
    const chinese = corpus.texts.find((entry) => entry.name === "chinese")!.text
    const exact = Tokenizer.countText(chinese)
    expect(Math.ceil([...chinese].length / 4)).toBeLessThan(exact / 2)
  })
})
