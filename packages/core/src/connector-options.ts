import { z } from 'zod';
import type { ConnectorType } from './connectors';

/**
 * The one options schema per connector type: the registry refuses at write time what
 * does not pass it, and each broker reads `options` through it, so a value the registry
 * accepted is one the broker can run. Known keys are typed and bounded; unknown keys
 * pass through untouched (a broker may add its own before the schema learns them).
 */

/** Node's timers overflow above this (2^31-1 ms, about 24.8 days) and fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A string the rules below name in their messages: a lower-case DNS label. */
export function dnsLabelSchema(what: string): z.ZodString {
  return z.string().regex(DNS_LABEL, `${what} must be a DNS label: lower-case letters, digits and '-', 1-63 characters`);
}

/** A duration in ms a Node timer can hold; `min` 1 where 0 would mean "wait forever". */
function durationMs(min = 0): z.ZodNumber {
  return z
    .number()
    .int('must be a whole number of milliseconds')
    .min(min)
    .max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} ms (Node timers overflow above that)`);
}

const count = (min: number, max: number): z.ZodNumber => z.number().int().min(min).max(max);
const stringMap = z.record(z.string().max(65_536)).refine((map) => Object.keys(map).length <= 256, 'must have at most 256 entries');

const base = { namespace: dnsLabelSchema('options.namespace').optional() };

/** `database` connectors: pool sizing and timing (db-broker). */
export const DATABASE_OPTIONS = z
  .object({
    ...base,
    max: count(1, 1000).optional(),
    min: count(0, 1000).optional(),
    idleTimeoutMs: durationMs().optional(),
    /** 0 means the default: pg would otherwise wait forever for a connection. */
    acquireTimeoutMs: durationMs().optional(),
    /** 0 = no statement timeout. */
    statementTimeoutMs: durationMs().optional(),
    /** 0 = connections live until idle or broken. */
    maxLifetimeMs: durationMs().optional(),
    healthCheckIdleMs: durationMs().optional(),
    breakerFailures: count(1, 10_000).optional(),
    breakerRecoveryMs: durationMs(10).optional(),
    maxSessions: count(0, 1000).optional(),
    database: z.string().min(1).max(63).optional(),
    /** Wire front: a server connection per transaction (default) or per client session. */
    poolMode: z.enum(['transaction', 'session']).optional(),
    /** The connector's tables as MCP tools on the mcp-broker; `readOnly` (default true) runs them in a read-only transaction. */
    mcp: z.object({ tools: z.boolean(), readOnly: z.boolean().optional() }).strict().optional(),
  })
  .passthrough()
  .superRefine((o, ctx) => {
    if (o.min !== undefined && o.max !== undefined && o.min > o.max) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['min'], message: `must not exceed max (${o.max})` });
    }
  });

/** What an `llm` connector's upstream speaks: OpenAI-compatible, or Anthropic's native Messages API. */
const LLM_PROVIDERS = ['openai', 'anthropic'] as const;
/** The APIs an llm upstream may serve natively (anything else the llm-proxy translates). */
const LLM_APIS = ['chat', 'completions', 'embeddings', 'responses', 'messages'] as const;

/** `llm` connectors: routing and timeouts (llm-proxy). */
export const LLM_OPTIONS = z
  .object({
    ...base,
    /** `openai` (default) or `anthropic` (key sent as `x-api-key`). */
    provider: z.enum(LLM_PROVIDERS).optional(),
    /** APIs served natively; default by provider (openai: chat, completions, embeddings; anthropic: messages). */
    apis: z.array(z.enum(LLM_APIS)).min(1).max(LLM_APIS.length).optional(),
    /** Model names it serves; `*` or absent = a catch-all. */
    models: z.array(z.string().min(1).max(256)).max(1000).optional(),
    /** Lower is tried first. */
    priority: count(-1_000_000, 1_000_000).optional(),
    /** Share among connectors of equal priority; 0 = only when the others failed. */
    weight: z.number().min(0).max(1_000_000).optional(),
    timeoutMs: durationMs(1).optional(),
    connectTimeoutMs: durationMs(1).optional(),
    firstTokenTimeoutMs: durationMs(1).optional(),
    /** Older name of firstTokenTimeoutMs. */
    firstByteTimeoutMs: durationMs(1).optional(),
    idleTimeoutMs: durationMs(1).optional(),
    maxRetries: count(0, 10).optional(),
    maxConnections: count(1, 4096).optional(),
    streamUsage: z.boolean().optional(),
    probe: z.boolean().optional(),
    probeIntervalMs: durationMs(100).optional(),
    breakerFailures: count(1, 10_000).optional(),
    breakerRecoveryMs: durationMs().optional(),
  })
  .passthrough();

export const AGENT_TRANSPORTS = ['stdio', 'streamable-http', 'sse'] as const;
export type AgentTransport = (typeof AGENT_TRANSPORTS)[number];
export const AGENT_LIFECYCLES = ['persistent', 'per-call'] as const;

/**
 * `transport: 'virtual'` (connector level only): no server of its own, but a curated view
 * of the others' tools, prompts and resources served at `/mcp/<configId>` (mcp-broker).
 */
export const VIRTUAL_TRANSPORT = 'virtual';

/** `agent_tool` connectors and members: how to reach an MCP server (mcp-broker). */
export const AGENT_TOOL_OPTIONS = z
  .object({
    ...base,
    transport: z.enum([...AGENT_TRANSPORTS, VIRTUAL_TRANSPORT]).optional(),
    /** Virtual servers: globs over `<server>__<name>` picking what they serve; `!` excludes. */
    select: z.array(z.string().min(1).max(300)).min(1).max(1000).optional(),
    /** Virtual servers: serve names without their `<server>__` prefix where they stay unique. */
    stripPrefix: z.boolean().optional(),
    command: z.string().min(1).max(4096).optional(),
    args: z.array(z.string().max(65_536)).max(1000).optional(),
    env: stringMap.optional(),
    cwd: z.string().min(1).max(4096).optional(),
    headers: stringMap.optional(),
    lifecycle: z.enum(AGENT_LIFECYCLES).optional(),
    /** Per call; 0 = none. */
    timeoutMs: durationMs().optional(),
    /** Sessions (processes for stdio) kept open and shared by calls. */
    pool: count(1, 64).optional(),
    stateful: z.boolean().optional(),
  })
  .passthrough()
  .superRefine((o, ctx) => {
    const virtual = o.transport === VIRTUAL_TRANSPORT;
    if (virtual && o.select === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['select'], message: "is required for the 'virtual' transport: globs over <server>__<tool>" });
    }
    for (const key of ['select', 'stripPrefix'] as const) {
      if (!virtual && o[key] !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: "applies only to the 'virtual' transport" });
    }
  });

/** Every other type: headers and a timeout, the rest is the broker's. */
export const GENERIC_OPTIONS = z.object({ ...base, headers: stringMap.optional(), timeoutMs: durationMs().optional() }).passthrough();

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Header values may not hold CR, LF or NUL (they would split the request). */
const HEADER_VALUE = /^[^\r\n\0]*$/;
const headerMap = stringMap.refine(
  (map) => Object.entries(map).every(([name, value]) => HEADER_NAME.test(name) && HEADER_VALUE.test(value)),
  'must map HTTP header names to values without CR, LF or NUL',
);

/** `api` and `endpoint` connectors: the HTTP API behind them (api-broker). */
export const API_OPTIONS = z
  .object({
    ...base,
    headers: headerMap.optional(),
    /** Whole request, retries included; 0 = none. */
    timeoutMs: durationMs().optional(),
    connectTimeoutMs: durationMs(1).optional(),
    /** Until the upstream's response headers. */
    headersTimeoutMs: durationMs(1).optional(),
    /** Send `credentials.apiKey` as this header's value instead of `Authorization: Bearer`. */
    apiKeyHeader: z.string().regex(HEADER_NAME, 'must be an HTTP header name').max(256).optional(),
    /** Extra tries of idempotent requests on connection errors and 502/503/504. */
    maxRetries: count(0, 10).optional(),
    maxConnections: count(1, 4096).optional(),
    /** Largest request body forwarded, in bytes. */
    bodyLimitBytes: count(0, 1024 ** 4).optional(),
    breakerFailures: count(1, 10_000).optional(),
    breakerRecoveryMs: durationMs(10).optional(),
  })
  .passthrough();

export type DatabaseOptions = z.infer<typeof DATABASE_OPTIONS>;
export type LlmOptions = z.infer<typeof LLM_OPTIONS>;
export type AgentToolOptions = z.infer<typeof AGENT_TOOL_OPTIONS>;
export type GenericOptions = z.infer<typeof GENERIC_OPTIONS>;
export type ApiOptions = z.infer<typeof API_OPTIONS>;

interface OptionsByType {
  database: DatabaseOptions;
  llm: LlmOptions;
  agent_tool: AgentToolOptions;
  bucket: GenericOptions;
  api: ApiOptions;
  endpoint: ApiOptions;
  data_source: GenericOptions;
}

const SCHEMAS: { [T in ConnectorType]: z.ZodType<OptionsByType[T], z.ZodTypeDef, unknown> } = {
  database: DATABASE_OPTIONS,
  llm: LLM_OPTIONS,
  agent_tool: AGENT_TOOL_OPTIONS,
  bucket: GENERIC_OPTIONS,
  api: API_OPTIONS,
  endpoint: API_OPTIONS,
  data_source: GENERIC_OPTIONS,
};

/** The options schema of a connector type. */
export function optionsSchemaFor<T extends ConnectorType>(type: T): z.ZodType<OptionsByType[T], z.ZodTypeDef, unknown> {
  return SCHEMAS[type];
}

/** One option that did not pass: `path` like `options.max`, a message without the value. */
export interface OptionIssue {
  path: string;
  message: string;
}

/** Dotted path of a zod issue under `options` (`options.models[2]`). */
function issuePath(path: readonly (string | number)[]): string {
  let out = 'options';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `.${part}`;
  return out;
}

/**
 * Reads stored options for a broker. A key that fails the schema (a row written before a
 * bound existed) is dropped, so its default applies, and reported in `issues`: one bad
 * option never takes a connector down.
 */
export function readConnectorOptions<T extends ConnectorType>(
  type: T,
  raw: Record<string, unknown> | undefined,
): { options: OptionsByType[T]; issues: OptionIssue[] } {
  const schema = SCHEMAS[type];
  const first = schema.safeParse(raw ?? {});
  if (first.success) return { options: first.data, issues: [] };
  const issues = first.error.issues.map((issue) => ({ path: issuePath(issue.path), message: issue.message }));
  const dropped = new Set(first.error.issues.map((issue) => issue.path[0]).filter((key): key is string => typeof key === 'string'));
  const kept = Object.fromEntries(Object.entries(raw ?? {}).filter(([key]) => !dropped.has(key)));
  const second = schema.safeParse(kept);
  // Only a cross-field rule (min > max) can fail again; then every known key goes.
  return { options: second.success ? second.data : schema.parse({}), issues };
}
