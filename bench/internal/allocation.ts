/**
 * Bytes allocated by a piece of work, objects collected since included: V8's sampling heap
 * profiler (through `node:inspector`) with a small sampling interval, its samples summed. An
 * estimate (each sample stands for `interval` bytes on average), deterministic enough to compare
 * two versions of a hot path, and insensitive to the machine's load (unlike CPU time).
 */
import { Session } from "node:inspector/promises"

interface ProfileNode {
  readonly selfSize: number
  readonly children: ReadonlyArray<ProfileNode>
}

const total = (node: ProfileNode): number => node.children.reduce((sum, child) => sum + total(child), node.selfSize)

/**
 * The sampling heap profile of what `run` allocates (collected objects included): the profile's
 * root node, to be read by the caller's own node type (call frames, self sizes, children).
 */
export const heapProfile = async (run: () => Promise<unknown>, interval = 128): Promise<unknown> => {
  const session = new Session()
  session.connect()
  try {
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: interval,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true
    })
    await run()
    const { profile } = await session.post("HeapProfiler.stopSampling")
    return profile.head
  } finally {
    session.disconnect()
  }
}

/** The bytes `run` allocates (collected objects included), by the sampling heap profiler. */
export const bytesAllocated = async (run: () => Promise<unknown>, interval = 128): Promise<number> =>
  total(await heapProfile(run, interval) as ProfileNode)
