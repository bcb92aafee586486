/**
 * The bridge's JSON Schemas (contracts/bridge-*.schema.json) against real bridge output: what a
 * consumer in another language validates with accepts what the bridge prints, and the
 * consumer's request.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, JsonSchema, Schema, SchemaRepresentation } from "effect"
import * as BridgeContract from "../../src/bridge/BridgeContract.ts"
import { consumerRequest, startBridge, tempDir } from "../cli/bridgeChild.ts"

const contractsDir = new URL("../../contracts/", import.meta.url)

const fromContractFile = (file: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(new URL(file, contractsDir).pathname)
    return SchemaRepresentation.fromJsonSchemaDocument(JsonSchema.fromSchemaDraft2020_12(JSON.parse(text)))
  }).pipe(Effect.provide(NodeServices.layer))

describe("contracts/bridge-*.schema.json", () => {
  it.live("every answer the real bridge prints validates: success, InvalidInput, a reason's failure, a bad line", () =>
    Effect.gen(function*() {
      const answerSchema = yield* fromContractFile("bridge-response.schema.json")
      const child = startBridge(["--jsonl"], tempDir())
      child.write([
        consumerRequest({ id: 1 }),
        "not json",
        consumerRequest({ id: "budget", budget: { totalTokens: 3 } }),
        consumerRequest({ id: 2, provider: "nosuch" }),
        consumerRequest({ id: 3 })
      ].join("\n"))
      child.end()
      assert.strictEqual(yield* Effect.promise(() => child.exited), 0, child.stderr())
      const answers = child.answers()
      assert.strictEqual(answers.length, 5)
      for (const answer of answers) {
        assert.isTrue(Schema.is(answerSchema)(answer), `contract accepts ${JSON.stringify(answer)}`)
        assert.isTrue(Schema.is(BridgeContract.BridgeAnswer)(answer), `Schema accepts ${JSON.stringify(answer)}`)
      }
      assert.deepStrictEqual(answers.map((answer) => answer.errorType ?? "ok").sort(), ["BudgetExceeded", "InvalidInput", "InvalidInput", "ok", "ok"])
    }))

  it.effect("the consumer's request (systemPrompt null) validates; a prompt that is not a string does not", () =>
    Effect.gen(function*() {
      const requestSchema = yield* fromContractFile("bridge-request.schema.json")
      const request = JSON.parse(consumerRequest({ api_key: "k", budget: { costUsd: 0.5, deadline: "30s" } })) as unknown
      assert.isTrue(Schema.is(requestSchema)(request))
      assert.isTrue(Schema.is(BridgeContract.BridgeRequest)(request))
      const bad = JSON.parse(consumerRequest({ prompt: 3 })) as unknown
      assert.isFalse(Schema.is(requestSchema)(bad))
      assert.isFalse(Schema.is(BridgeContract.BridgeRequest)(bad))
    }))
})
