/**
 * The bridge request's common shape read without the Schema (issue 16, stop 31): `POST /execute`,
 * JSON-RPC `execute` and the bridge decode every request with `BridgeContract.BridgeRequest`, whose
 * copy and issue machinery cost more than the rest of the door's reading. Most requests carry only
 * scalar fields (`id`, `provider`, `model`, `systemPrompt`, `prompt`, `maxTokens`, `temperature`,
 * `api_key`); for those, {@link read} applies the Schema's checks written out and gives the value
 * the Schema's decode and the null drop give (a test holds them equal). Anything else (`messages`,
 * a `budget`, a field of the wrong type, a value that is not a plain JSON object) gives
 * `undefined`, and the caller decodes with the Schema as before, so refusals and their messages
 * are the Schema's.
 *
 * @since 0.1.0
 * @internal
 */
import type * as BridgeContract from "../BridgeContract.ts"

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

const isNonEmptyString = (value: unknown): value is string => typeof value === "string" && value.length > 0
const isPositiveInt = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value > 0

/**
 * The request with its null fields dropped, as `BridgeContract.decode` makes it before its
 * prompt checks; `undefined` when the Schema has to decide.
 *
 * @since 0.1.0
 * @category decoding
 */
export const read = (input: object): BridgeContract.BridgeRequest | undefined => {
  if (Object.getPrototypeOf(input) !== Object.prototype) return undefined
  const value = input as Readonly<Record<string, unknown>>
  for (const key of FIELDS) {
    // A key holding `undefined` (not JSON): left to the Schema.
    if (value[key] === undefined && Object.hasOwn(value, key)) return undefined
  }
  const { id, provider, model, systemPrompt, prompt, messages, maxTokens, temperature, api_key, budget } = value
  // Fields the Schema decodes into values of its own: left to it.
  if (given(messages) || given(budget)) return undefined
  // Built in the Schema's field order (its copy's order), nulls dropped.
  const out: Mutable<BridgeContract.BridgeRequest> = {}
  if (given(id)) {
    if (typeof id !== "string" && !(typeof id === "number" && Number.isFinite(id))) return undefined
    out.id = id
  }
  if (given(provider)) {
    if (!isNonEmptyString(provider)) return undefined
    out.provider = provider
  }
  if (given(model)) {
    if (!isNonEmptyString(model)) return undefined
    out.model = model
  }
  if (given(systemPrompt)) {
    if (typeof systemPrompt !== "string") return undefined
    out.systemPrompt = systemPrompt
  }
  if (given(prompt)) {
    if (typeof prompt !== "string") return undefined
    out.prompt = prompt
  }
  if (given(maxTokens)) {
    if (!isPositiveInt(maxTokens)) return undefined
    out.maxTokens = maxTokens
  }
  if (given(temperature)) {
    if (typeof temperature !== "number" || !Number.isFinite(temperature) || temperature < 0 || temperature > 2) return undefined
    out.temperature = temperature
  }
  if (given(api_key)) {
    if (!isNonEmptyString(api_key)) return undefined
    out.api_key = api_key
  }
  return out
}

/**
 * The Schema's fields (`BridgeContract.BridgeRequest`), in its order: a test holds them equal, so
 * a field added to the Schema and not here fails it.
 *
 * @since 0.1.0
 * @category decoding
 */
export const FIELDS = ["id", "provider", "model", "systemPrompt", "prompt", "messages", "maxTokens", "temperature", "api_key", "budget"] as const

// Not absent and not null (null is absent to the contract).
const given = (field: unknown): boolean => field !== undefined && field !== null
