/**
 * A table of records by sequence number (a non-negative integer), for the memory store's open
 * reservations: open addressing over two arrays, a number's slot its low bits (sequence numbers are
 * consecutive, so the reservations open at once spread over the slots), linear probing, and
 * deletion by shifting the entries after it back (no tombstones). The arrays only grow (at half
 * full), so a reservation made and settled allocates nothing. A `Map` did: at one call in flight
 * V8 shrank its table on every delete and rebuilt it on the next set (about 150 bytes per call).
 *
 * @since 0.1.0
 */

const EMPTY = -1

/** @internal */
export class SequenceTable<V> {
  private keys: Array<number> = new Array<number>(8).fill(EMPTY)
  private values: Array<V | undefined> = new Array<V | undefined>(8).fill(undefined)
  private mask = 7
  size = 0

  get(key: number): V | undefined {
    if (key < 0) return undefined
    const keys = this.keys
    const mask = this.mask
    for (let index = key & mask;; index = (index + 1) & mask) {
      const at = keys[index]!
      if (at === key) return this.values[index]
      if (at === EMPTY) return undefined
    }
  }

  set(key: number, value: V): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow()
    this.put(key, value)
  }

  delete(key: number): boolean {
    if (key < 0) return false
    const keys = this.keys
    const values = this.values
    const mask = this.mask
    let hole = key & mask
    for (;; hole = (hole + 1) & mask) {
      const at = keys[hole]!
      if (at === key) break
      if (at === EMPTY) return false
    }
    // Shift back each entry after the hole that may sit in it (its own slot is not between the
    // hole and where it is, cyclically), until an empty slot.
    for (let next = (hole + 1) & mask;; next = (next + 1) & mask) {
      const at = keys[next]!
      if (at === EMPTY) break
      const home = at & mask
      const movable = next > hole ? home <= hole || home > next : home <= hole && home > next
      if (movable) {
        keys[hole] = at
        values[hole] = values[next]
        hole = next
      }
    }
    keys[hole] = EMPTY
    values[hole] = undefined
    this.size -= 1
    return true
  }

  /** The entries, in no particular order. */
  entries(): Array<[number, V]> {
    const entries: Array<[number, V]> = []
    const keys = this.keys
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index]!
      if (key !== EMPTY) entries.push([key, this.values[index]!])
    }
    return entries
  }

  private put(key: number, value: V): void {
    const keys = this.keys
    const mask = this.mask
    for (let index = key & mask;; index = (index + 1) & mask) {
      const at = keys[index]!
      if (at === key) {
        this.values[index] = value
        return
      }
      if (at === EMPTY) {
        keys[index] = key
        this.values[index] = value
        this.size += 1
        return
      }
    }
  }

  private grow(): void {
    const entries = this.entries()
    const capacity = (this.mask + 1) * 2
    this.keys = new Array<number>(capacity).fill(EMPTY)
    this.values = new Array<V | undefined>(capacity).fill(undefined)
    this.mask = capacity - 1
    this.size = 0
    for (const [key, value] of entries) this.put(key, value)
  }
}
