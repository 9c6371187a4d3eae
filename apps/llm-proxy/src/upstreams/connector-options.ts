import { readConnectorOptions } from '@patchbay/core';
import { nativeApis, type NativeApi, type Provider } from '../apis/wire-api';

/** How the proxy uses one `llm` connector; read from `options` with defaults. */
export interface UpstreamOptions {
  provider: Provider;
  /** The APIs it serves natively (the rest is translated). */
  apis: readonly NativeApi[];
  /** Model names it serves; undefined = a catch-all for names nobody lists. */
  models: string[] | undefined;
  /** Lower is tried first. */
  priority: number;
  /** Share among connectors of equal priority; 0 = only when the others failed. */
  weight: number;
  connectTimeoutMs: number;
  /** Streaming: until the first body byte. */
  firstTokenTimeoutMs: number;
  /** Longest silence between two body chunks. */
  idleTimeoutMs: number;
  /** Non-streaming: until the response headers (never the whole request deadline: a silent upstream must not hold a request that long). */
  timeoutMs: number;
  /** Extra tries on this connector for network errors / 5xx before failing over. */
  maxRetries: number;
  /** Keep-alive connections in the pool. */
  maxConnections: number;
  /** Ask streaming upstreams for usage (`stream_options.include_usage`). */
  streamUsage: boolean;
  /** Health probe `GET {url}/models` every this many ms; 0 = off. */
  probeIntervalMs: number;
  breakerFailures: number | undefined;
  breakerRecoveryMs: number | undefined;
}

export interface OptionDefaults {
  connectTimeoutMs: number;
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
  timeoutMs: number;
  probeIntervalMs: number;
}

/**
 * Reads a connector's `options` through the shared `llm` schema the registry validates
 * with. A stored value outside it (a row older than the schema's bounds) falls back to
 * its default and is reported in `warnings` (named, never its value), so a bad option
 * never takes a connector down.
 */
export function upstreamOptions(raw: Record<string, unknown>, defaults: OptionDefaults): { options: UpstreamOptions; warnings: string[] } {
  const { options: o, issues } = readConnectorOptions('llm', raw);
  const warnings = issues.map((issue) => `${issue.path} ${issue.message}; using the default`);
  const models = o.models?.includes('*') ? undefined : o.models;
  return {
    options: {
      provider: o.provider ?? 'openai',
      apis: nativeApis(o.provider ?? 'openai', o.apis),
      models,
      priority: o.priority ?? 0,
      weight: o.weight ?? 1,
      connectTimeoutMs: o.connectTimeoutMs ?? defaults.connectTimeoutMs,
      firstTokenTimeoutMs: o.firstTokenTimeoutMs ?? o.firstByteTimeoutMs ?? defaults.firstTokenTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs ?? defaults.idleTimeoutMs,
      timeoutMs: o.timeoutMs ?? defaults.timeoutMs,
      maxRetries: o.maxRetries ?? 1,
      maxConnections: o.maxConnections ?? 256,
      streamUsage: o.streamUsage !== false,
      probeIntervalMs: o.probe === true ? (o.probeIntervalMs ?? (defaults.probeIntervalMs || 30_000)) : o.probe === false ? 0 : defaults.probeIntervalMs,
      breakerFailures: o.breakerFailures,
      breakerRecoveryMs: o.breakerRecoveryMs,
    },
    warnings,
  };
}
