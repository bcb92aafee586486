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

/** The bytes `run` allocates (collected objects included), by the sampling heap profiler. */
export const bytesAllocated = async (run: () => Promise<unknown>, interval = 128): Promise<number> => {
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
    return total(profile.head as ProfileNode)
  } finally {
    session.disconnect()
  }
}
