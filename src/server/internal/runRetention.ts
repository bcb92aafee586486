/**
 * Retention of serve's run journals on disk (`serve.runs.retain`): the journal of a finished run
 * is deleted once it is not among the last `runs` finished, or `ageMs` after the run ended.
 *
 * At start the journal folder is scanned once: a journal whose last entry is an `end` entry is a
 * finished run (ended at that entry's `at`); one without (a run stopped with an earlier process,
 * or in flight on another replica sharing the folder) is deleted only by age, measured from the
 * file's last write, and never counted against `runs`. After that, each run that ends here is
 * added to the index and the bounds are applied again, so no directory is listed per run. Runs
 * in flight here are never in the index. Only files named as serve names journals
 * (`<runId>.jsonl`) are considered; anything else in the folder is left alone. A file that cannot
 * be read or deleted is logged and skipped: retention never fails a run.
 *
 * @since 0.1.0
 */
import { Clock, Effect, FileSystem, Option, Path } from "effect"
import type * as ServeConfig from "../ServeConfig.ts"

/**
 * The retention of one journal folder.
 *
 * @since 0.1.0
 * @category models
 */
export interface Retention {
  /** Records a run that has just ended here (its journal complete), then applies the bounds. */
  readonly finished: (runId: string, at: number) => Effect.Effect<void>
  /** The run ids whose journals the index holds now (finished, then unfinished), for tests. */
  readonly retained: Effect.Effect<ReadonlyArray<string>>
}

const JOURNAL_FILE = /^(\d{8}-[0-9a-z]{6})\.jsonl$/

interface Indexed {
  readonly runId: string
  readonly at: number
}

/** The `at` of the journal's `end` entry when its last line is one. */
const endedAt = (text: string): number | undefined => {
  const lines = text.split("\n")
  let last = lines.length - 1
  while (last >= 0 && lines[last]!.trim() === "") last--
  if (last < 0) return undefined
  try {
    const entry: unknown = JSON.parse(lines[last]!)
    if (typeof entry !== "object" || entry === null) return undefined
    const { at, type } = entry as { readonly type?: unknown; readonly at?: unknown }
    return type === "end" && typeof at === "number" && Number.isFinite(at) ? at : undefined
  } catch {
    return undefined
  }
}

/**
 * Scans `directory` and applies `retain` to it, then returns the retention that keeps applying
 * it as runs end.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  directory: string,
  retain: ServeConfig.RetainSettings
): Effect.Effect<Retention, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const fileOf = (runId: string) => path.join(directory, `${runId}.jsonl`)
    // Finished runs, oldest end first; unfinished journals found at start, by last write.
    let finished: Array<Indexed> = []
    let unfinished: Array<Indexed> = []

    const remove = (runId: string) =>
      fs.remove(fileOf(runId)).pipe(
        Effect.catch((error) =>
          error._tag === "PlatformError" && error.reason._tag === "NotFound"
            ? Effect.void
            : Effect.logWarning(`serve.runs.retain: cannot delete the journal ${fileOf(runId)}: ${error.message}`)
        )
      )

    const apply = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const cutoff = now - retain.ageMs
      const expired: Array<string> = []
      const kept: Array<Indexed> = []
      for (const run of finished) {
        if (run.at <= cutoff) expired.push(run.runId)
        else kept.push(run)
      }
      while (kept.length > retain.runs) expired.push(kept.shift()!.runId)
      finished = kept
      const stale = unfinished.filter((run) => run.at <= cutoff)
      unfinished = unfinished.filter((run) => run.at > cutoff)
      for (const run of stale) expired.push(run.runId)
      yield* Effect.forEach(expired, remove, { discard: true })
    })

    const scan = Effect.gen(function*() {
      const names = yield* fs.readDirectory(directory).pipe(Effect.orElseSucceed(() => [] as ReadonlyArray<string>))
      const found = yield* Effect.forEach(
        names.flatMap((name) => {
          const match = JOURNAL_FILE.exec(name)
          return match === null ? [] : [match[1]!]
        }),
        (runId) =>
          Effect.gen(function*() {
            const text = yield* fs.readFileString(fileOf(runId))
            const at = endedAt(text)
            if (at !== undefined) return { runId, at, ended: true }
            const info = yield* fs.stat(fileOf(runId))
            return { runId, at: Option.getOrElse(Option.map(info.mtime, (date) => date.getTime()), () => 0), ended: false }
          }).pipe(
            Effect.catch((error) =>
              Effect.as(Effect.logWarning(`serve.runs.retain: cannot read the journal ${fileOf(runId)}: ${error.message}`), undefined)
            )
          ),
        { concurrency: 4 }
      )
      for (const run of found) {
        if (run === undefined) continue
        ;(run.ended ? finished : unfinished).push({ runId: run.runId, at: run.at })
      }
      finished.sort((a, b) => a.at - b.at)
    })

    yield* scan
    yield* apply

    return {
      finished: (runId, at) =>
        Effect.suspend(() => {
          // Kept in end order (runs end at about the same time; a late `at` goes in its place).
          let index = finished.length
          while (index > 0 && finished[index - 1]!.at > at) index--
          finished.splice(index, 0, { runId, at })
          return apply
        }),
      retained: Effect.sync(() => [...finished, ...unfinished].map((run) => run.runId))
    } satisfies Retention
  })
