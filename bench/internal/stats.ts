/**
 * What every benchmark shares: reading a `--name value` argument (a string or a number), the median of
 * repetitions, the wall time of an async run in milliseconds, and the machine's load average.
 */
import { readFileSync } from "node:fs"

/** A string command-line argument `--name value`, or the fallback. */
export const option = (name: string, fallback: string): string => {
  const index = process.argv.indexOf(`--${name}`)
  return index >= 0 ? process.argv[index + 1]! : fallback
}

/** A numeric command-line argument `--name value`, or the fallback. */
export const argument = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`)
  return index >= 0 ? Number(process.argv[index + 1]) : fallback
}

/** The median of the values (the mean of the middle two for an even count). */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The wall time of `run`, in milliseconds. */
export const time = async (run: () => Promise<unknown>): Promise<number> => {
  const started = process.hrtime.bigint()
  await run()
  return Number(process.hrtime.bigint() - started) / 1e6
}

/** The 1, 5 and 15 minute load averages as /proc/loadavg gives them (`n/a` where it does not exist). */
export const loadAverage = (): string => {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
  } catch {
    return "n/a"
  }
}
