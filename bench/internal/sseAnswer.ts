/**
 * The answer the streaming benchmark's SSE mock sends and its client expects, in `chunks`
 * content chunks: the three-chunk answer of the main scenario, or `chunks` one-word pieces (the
 * per-chunk cost scenario).
 */
export const THREE_CHUNKS = ["The Nile is ", "the longest river ", "in Africa."]

/** The content chunks of an answer in `chunks` pieces. */
export const contentChunks = (chunks: number): ReadonlyArray<string> =>
  chunks === THREE_CHUNKS.length ? THREE_CHUNKS : Array.from({ length: chunks }, (_, index) => `word${index} `)

/** The whole answer in `chunks` pieces. */
export const answer = (chunks: number): string => contentChunks(chunks).join("")

/** The base-URL path that asks the mock for an answer in `chunks` pieces (`/c51/v1`; `/v1` for three). */
export const basePath = (chunks: number): string => (chunks === THREE_CHUNKS.length ? "/v1" : `/c${chunks}/v1`)

/** The number of chunks a request path asks for. */
export const chunksOfPath = (path: string | undefined): number => {
  const match = /^\/c(\d+)\//.exec(path ?? "")
  return match === null ? THREE_CHUNKS.length : Math.min(1_000, Number(match[1]))
}
