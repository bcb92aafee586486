/**
 * The memory store's table of open reservations (`internal/sequenceTable.ts`) against a `Map`:
 * after any program of sets and deletes (consecutive sequence numbers, as the store makes them,
 * settled in any order, some long open while the table wraps around and grows), the same lookups,
 * the same size and the same entries.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { SequenceTable } from "../../src/budget/internal/sequenceTable.ts"

const Op = Schema.Struct({
  /** Open this many new reservations (the next sequence numbers). */
  open: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5 })),
  /** Then settle the open one at this position (from the oldest; none when past the end). */
  settle: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 40 }))
})

describe("SequenceTable", () => {
  it.prop("agrees with a Map after any program of sets and deletes", [Schema.Array(Op).check(Schema.isMaxLength(400))], ([ops]) => {
    const table = new SequenceTable<string>()
    const map = new Map<number, string>()
    let sequence = 0
    for (const op of ops) {
      for (let opened = 0; opened < op.open; opened++) {
        sequence += 1
        table.set(sequence, `r${sequence}`)
        map.set(sequence, `r${sequence}`)
      }
      const key = [...map.keys()][op.settle]
      if (key !== undefined) {
        assert.isTrue(table.delete(key))
        map.delete(key)
      }
      assert.isFalse(table.delete(sequence + 1))
      assert.strictEqual(table.size, map.size)
    }
    for (let key = -1; key <= sequence + 1; key++) assert.strictEqual(table.get(key), map.get(key), `key ${key}`)
    assert.deepStrictEqual(table.entries().sort(([a], [b]) => a - b), [...map.entries()].sort(([a], [b]) => a - b))
  }, { arbitrary: { runs: 300 } })

  it("keeps a long-open entry findable while later ones wrap around it, grow the table and leave", () => {
    const table = new SequenceTable<number>()
    table.set(1, 1)
    for (let sequence = 2; sequence < 5_000; sequence++) {
      table.set(sequence, sequence)
      if (sequence % 3 !== 0) table.delete(sequence)
      if (sequence % 3 === 0 && sequence > 30) table.delete(sequence - 30)
    }
    assert.strictEqual(table.get(1), 1)
    assert.strictEqual(table.size, 1 + table.entries().filter(([key]) => key !== 1).length)
    assert.isTrue(table.delete(1))
    assert.isUndefined(table.get(1))
  })
})
