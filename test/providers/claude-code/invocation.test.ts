/**
 * How a request becomes one run of the CLI (src/providers/claude-code/internal/invocation.ts):
 * the rendered prompt, the warnings for parameters it cannot honour, the budget flag, the args.
 */
import { assert, describe, it } from "@effect/vitest"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as Invocation from "../../../src/providers/claude-code/internal/invocation.ts"

describe("claude-code invocation", () => {
  it("a single user message is the prompt as it is", () => {
    assert.deepStrictEqual(Invocation.renderPrompt(LlmRequest.make("Name three rivers")), {
      system: "",
      prompt: "Name three rivers"
    })
  })

  it("the request's system prompt and system messages form the system prompt, in order", () => {
    const rendered = Invocation.renderPrompt(LlmRequest.make({
      system: "You are terse.",
      messages: [{ role: "system", content: "Answer in French." }, { role: "user", content: "Hello" }]
    }))
    assert.deepStrictEqual(rendered, { system: "You are terse.\n\nAnswer in French.", prompt: "Hello" })
  })

  it("a conversation becomes a tagged transcript, oldest first, asking for the next reply", () => {
    const rendered = Invocation.renderPrompt(LlmRequest.make({
      messages: [
        { role: "user", content: "What is 2+2?" },
        { role: "assistant", content: "4" },
        { role: "user", content: "Doubled?" }
      ]
    }))
    assert.strictEqual(
      rendered.prompt,
      `${Invocation.TRANSCRIPT_INSTRUCTION}\n\n<user>\nWhat is 2+2?\n</user>\n\n<assistant>\n4\n</assistant>\n\n<user>\nDoubled?\n</user>`
    )
  })

  it("names every parameter it cannot honour, and only those", () => {
    assert.deepStrictEqual(Invocation.unsupportedParameters(LlmRequest.make("hi")), [])
    const warnings = Invocation.unsupportedParameters({ temperature: 0, topP: 1, stop: ["END"], maxTokens: 10 })
    assert.strictEqual(warnings.length, 4)
    for (const [index, name] of ["temperature", "topP", "stop", "maxTokens"].entries()) {
      assert.include(warnings[index], name)
    }
    assert.deepStrictEqual(Invocation.unsupportedParameters({ stop: [] }), [])
  })

  const budgets: Array<[number, string | undefined]> = [
    [0.5, "0.5"],
    [2, "2"],
    [0.123456789, "0.12345678"],
    [1e-7, "0.0000001"],
    [1e-9, undefined],
    [0, undefined],
    [-1, undefined],
    [Number.NaN, undefined]
  ]
  it.each(budgets)("budget %s USD -> --max-budget-usd %s", (usd, expected) => {
    assert.strictEqual(Invocation.formatBudgetUsd(usd), expected)
  })

  it("runs as a plain model; the prompt is not an argument", () => {
    const args = Invocation.buildArgs({ model: "haiku", systemPromptFile: "/tmp/x/system-prompt.txt", maxBudgetUsd: "0.5" })
    assert.deepStrictEqual(args, [
      "-p",
      "--output-format",
      "json",
      "--model",
      "haiku",
      "--system-prompt-file",
      "/tmp/x/system-prompt.txt",
      "--tools",
      "",
      "--strict-mcp-config",
      "--max-turns",
      "1",
      "--no-session-persistence",
      "--max-budget-usd",
      "0.5"
    ])
    assert.notInclude(Invocation.buildArgs({ model: "haiku", systemPromptFile: "/f" }), "--max-budget-usd")
    // a stream prints JSON Lines as it goes, with the model's partial messages
    const streamed = Invocation.buildArgs({ model: "haiku", systemPromptFile: "/f", stream: true })
    assert.deepStrictEqual(streamed.slice(0, 6), ["-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages", "--model"])
    assert.deepStrictEqual(streamed.slice(6), Invocation.buildArgs({ model: "haiku", systemPromptFile: "/f" }).slice(4))
  })
})
