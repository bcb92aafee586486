import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as PiiDetector from "../../src/pii/PiiDetector.ts"

const fixture = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../fixtures/pii/${name}`, import.meta.url)), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))

const positives = fixture("positive.tsv").map((line) => {
  const [kind, text] = line.split("\t") as [PiiDetector.PiiKind, string]
  return { kind, text }
})
const negatives = fixture("negative.txt")

describe("PiiDetector", () => {
  it.each(positives)("finds the $kind in: $text", ({ kind, text }) => {
    const findings = PiiDetector.detect(text)
    expect(findings.map((finding) => finding.kind)).toEqual([kind])
    const redacted = PiiDetector.redact(text)
    expect(redacted).toContain(`[REDACTED:${kind}]`)
    // The value itself is gone.
    const [finding] = findings
    expect(redacted).not.toContain(text.slice(finding!.start, finding!.end))
  })

  it("covers every kind in the positive corpus", () => {
    expect(new Set(positives.map((entry) => entry.kind))).toEqual(new Set(PiiDetector.allKinds))
  })

  it("has a false-positive rate under 5% on the negative corpus (known look-alikes listed)", () => {
    const flagged = negatives.filter((line) => PiiDetector.detect(line).length > 0)
    // Known and accepted: a 4-part version number reads as an IPv4 address, and a 16-digit
    // number that passes Luhn with a card prefix is indistinguishable from a card number.
    expect(flagged).toEqual([
      "Firmware 1.0.0.1 fixes the boot loop.",
      "Ticket numbers 4000123412341234 and 5105105105105101 were in the example."
    ])
    expect(flagged.length / negatives.length).toBeLessThan(0.05)
  })

  it("rejects card numbers that fail Luhn and IBANs that fail mod-97", () => {
    expect(PiiDetector.detect("card 4111 1111 1111 1112")).toEqual([])
    expect(PiiDetector.detect("IBAN DE89 3704 0044 0532 0130 01")).toEqual([])
    expect(PiiDetector.luhn("4111111111111111")).toBe(true)
    expect(PiiDetector.ibanValid("GB82 WEST 1234 5698 7654 32")).toBe(true)
    expect(PiiDetector.ibanValid("GB82 WEST 1234 5698 7654 33")).toBe(false)
  })

  it("rejects SSNs in ranges never issued", () => {
    expect(PiiDetector.detect("000-12-3456 666-12-3456 912-12-3456 123-00-4567 123-45-0000")).toEqual([])
  })

  it("redacts several kinds in one text, left to right, with a custom placeholder", () => {
    const text = "Mail ada@example.com, call +1 415 555 0132, key sk-proj-AbCdEf0123456789GhIjKlMnOp."
    expect(PiiDetector.redact(text, { replacement: (kind) => `<${kind}>` }))
      .toBe("Mail <email>, call <phone>, key <apiKey>.")
    expect(PiiDetector.kindsIn(text)).toEqual(["email", "phone", "apiKey"])
  })

  it("looks only for the kinds asked for", () => {
    const text = "ada@example.com from 10.0.0.1"
    expect(PiiDetector.redact(text, { kinds: ["ipv4"] })).toBe("ada@example.com from [REDACTED:ipv4]")
  })
})
