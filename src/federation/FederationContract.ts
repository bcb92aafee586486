/**
 * The documents of agent federation, as Schemas: what `agents list --json`, `delegate --json`
 * and the serve endpoints `/v1/agents` and `/v1/delegations` print and take. The JSON Schemas in
 * `contracts/` (`agents-list.schema.json`, `delegation.schema.json`) and the OpenAPI document
 * are generated from them.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as AgentLookup from "../routing/AgentLookup.ts"
import type * as AgentRegistry from "./AgentRegistry.ts"
import * as FederationStore from "./FederationStore.ts"

/**
 * An agent.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentDocument = Schema.Struct({
  slug: Schema.String,
  name: Schema.String,
  description: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  systemPrompt: Schema.NullOr(Schema.String),
  trustLevel: Schema.Literals(AgentLookup.trustLevels),
  capabilities: Schema.Array(Schema.String),
  active: Schema.Boolean,
  version: Schema.Int.annotate({ description: "Bumped on every update (1 when registered)." }),
  createdAt: Schema.String.annotate({ description: "ISO 8601" }),
  updatedAt: Schema.String.annotate({ description: "ISO 8601" })
}).annotate({ identifier: "Agent", description: "A registered agent: a provider, model and system prompt under a unique slug." })

/**
 * `agents list --json`: every agent, inactive ones too.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentList = Schema.Array(AgentDocument).annotate({ identifier: "AgentList" })

/**
 * An agent as a document.
 *
 * @since 0.1.0
 * @category encoding
 */
export const agentDocument = (agent: AgentRegistry.Agent): typeof AgentDocument.Type => ({
  slug: agent.slug,
  name: agent.name,
  description: agent.description,
  provider: agent.provider,
  model: agent.model,
  systemPrompt: agent.systemPrompt ?? null,
  trustLevel: agent.trustLevel,
  capabilities: agent.capabilities,
  active: agent.active,
  version: agent.version,
  createdAt: new Date(agent.createdAt).toISOString(),
  updatedAt: new Date(agent.updatedAt).toISOString()
})

/**
 * `POST /v1/agents`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NewAgentBody = Schema.Struct({
  slug: Schema.String,
  name: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  description: Schema.optionalKey(Schema.String),
  systemPrompt: Schema.optionalKey(Schema.String),
  trustLevel: Schema.optionalKey(Schema.String.annotate({ description: "advisory (default), elevated or autonomous" })),
  capabilities: Schema.optionalKey(Schema.Array(Schema.String))
}).annotate({ identifier: "NewAgent" })

/**
 * `PUT /v1/agents/{slug}`: the fields to change (`systemPrompt: null` removes it).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentChangesBody = Schema.Struct({
  name: Schema.optionalKey(Schema.String),
  provider: Schema.optionalKey(Schema.String),
  model: Schema.optionalKey(Schema.String),
  description: Schema.optionalKey(Schema.String),
  systemPrompt: Schema.optionalKey(Schema.NullOr(Schema.String)),
  trustLevel: Schema.optionalKey(Schema.String),
  capabilities: Schema.optionalKey(Schema.Array(Schema.String)),
  active: Schema.optionalKey(Schema.Boolean)
}).annotate({ identifier: "AgentChanges" })

/**
 * A delegation record (`delegate --json`, `/v1/delegations`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const DelegationDocument = Schema.Struct({
  id: Schema.String,
  parentId: Schema.NullOr(Schema.String),
  from: Schema.String,
  to: Schema.String,
  scope: Schema.String,
  task: Schema.String,
  tokenBudget: Schema.Int,
  status: Schema.Literals(FederationStore.delegationStatuses),
  result: Schema.NullOr(Schema.String).annotate({ description: "The receiving agent's answer (completed)." }),
  error: Schema.NullOr(Schema.String).annotate({ description: "What went wrong (failed, cancelled)." }),
  tokensUsed: Schema.Int.annotate({ description: "What the delegation's budget charged, every attempt included." }),
  createdAt: Schema.String.annotate({ description: "ISO 8601" }),
  completedAt: Schema.NullOr(Schema.String)
}).annotate({ identifier: "Delegation", description: "A delegation: pending, then completed, failed or cancelled." })

/**
 * `POST /v1/delegations`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DelegationBody = Schema.Struct({
  from: Schema.String,
  to: Schema.String,
  task: Schema.String,
  tokenBudget: Schema.Int,
  scope: Schema.optionalKey(Schema.String),
  parentId: Schema.optionalKey(Schema.String),
  artifactType: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "DelegationRequest" })

/**
 * A node of a provenance tree.
 *
 * @since 0.1.0
 * @category schemas
 */
export interface TreeNodeDocument {
  readonly delegation: typeof DelegationDocument.Type
  readonly children: ReadonlyArray<TreeNodeDocument>
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const TreeNodeDocument: Schema.Codec<TreeNodeDocument> = Schema.Struct({
  delegation: DelegationDocument,
  children: Schema.Array(Schema.suspend((): Schema.Codec<TreeNodeDocument> => TreeNodeDocument))
}).annotate({ identifier: "DelegationTreeNode" })

/**
 * `GET /v1/delegations/{id}/tree`: the chain above (root first) and the tree below.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ProvenanceDocument = Schema.Struct({
  ancestors: Schema.Array(DelegationDocument),
  tree: TreeNodeDocument
}).annotate({ identifier: "DelegationProvenance" })
