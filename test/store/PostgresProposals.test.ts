// Collective proposals on a real PostgreSQL (test/support/postgres.ts): the `proposals`
// component's tables, written and read back as in SQLite, and the CHECK on consensus status.
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as ProposalStore from "../../src/routing/ProposalStore.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import { postgresAvailable, type PostgresServer, startPostgres } from "../support/postgres.ts"

const proposal: ProposalStore.Proposal = {
  id: "prop-1",
  scope: "hub-1",
  taskType: "review",
  consensusStatus: "consensus",
  contributions: [
    { agent: "lead", status: "answered", content: "{\"recommendation\":\"ship\"}", tokensIn: 12, tokensOut: 7, model: "m1", recommendation: "ship", confidence: 0.75 },
    { agent: "second", status: "failed", content: "", tokensIn: 0, tokensOut: 0, model: "m2", error: "ServerError: down" }
  ],
  finalContent: "ship it",
  synthesizedBy: "lead",
  tokensIn: 20,
  tokensOut: 9,
  createdAt: 1_700_000_000_123
}

describe.runIf(postgresAvailable)("collective proposals on PostgreSQL", () => {
  let pg: PostgresServer
  beforeAll(() => {
    pg = startPostgres()
  })
  afterAll(() => pg?.destroy())

  it.effect("writes and reads back a proposal with its contributions; an unknown status is refused and nothing is written", () =>
    Effect.gen(function*() {
      const url = pg.createDatabase("proposals")
      const store = yield* ProposalStore.make(yield* SqlStore.make(url))
      yield* store.save(proposal)
      expect(Option.getOrUndefined(yield* store.get("prop-1"))).toEqual(proposal)
      const refused = yield* Effect.flip(store.save({ ...proposal, id: "prop-2", consensusStatus: "maybe" as ProposalStore.ConsensusStatus }))
      expect(refused.reason._tag).toBe("Unavailable")
      expect(Option.isNone(yield* store.get("prop-2"))).toBe(true)
      // Opening the store again applies nothing new.
      const again = yield* SqlStore.make(url)
      expect(yield* again.migrate(ProposalStore.migrations)).toEqual([])
    }).pipe(Effect.scoped), 120_000)
})
