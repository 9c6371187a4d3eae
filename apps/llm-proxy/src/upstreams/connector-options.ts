/** How the proxy uses one `llm` connector; read from `options` with defaults. */
export interface UpstreamOptions {
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

function num(value: unknown, min: number): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= min ? value : undefined;
}

/**
 * Reads a connector's `options`. The registry already validates the known keys; a
 * value of the wrong type here falls back to its default and is reported in `warnings`
 * (named, never its value), so a bad option never takes a connector down.
 */
export function upstreamOptions(raw: Record<string, unknown>, defaults: OptionDefaults): { options: UpstreamOptions; warnings: string[] } {
  const warnings: string[] = [];
  const pick = (key: string, min: number): number | undefined => {
    if (raw[key] === undefined) return undefined;
    const value = num(raw[key], min);
    if (value === undefined) warnings.push(`options.${key} must be a number >= ${min}; using the default`);
    return value;
  };
  let models: string[] | undefined;
  if (Array.isArray(raw['models'])) {
    models = raw['models'].filter((m): m is string => typeof m === 'string' && m.length > 0);
    if (models.includes('*')) models = undefined;
  } else if (raw['models'] !== undefined) {
    warnings.push('options.models must be a list of model names; serving every model');
  }
  const probe = raw['probe'];
  return {
    options: {
      models,
      priority: pick('priority', -1e9) ?? 0,
      weight: pick('weight', 0) ?? 1,
      connectTimeoutMs: pick('connectTimeoutMs', 1) ?? defaults.connectTimeoutMs,
      firstTokenTimeoutMs: pick('firstTokenTimeoutMs', 1) ?? pick('firstByteTimeoutMs', 1) ?? defaults.firstTokenTimeoutMs,
      idleTimeoutMs: pick('idleTimeoutMs', 1) ?? defaults.idleTimeoutMs,
      timeoutMs: pick('timeoutMs', 1) ?? defaults.timeoutMs,
      maxRetries: Math.floor(pick('maxRetries', 0) ?? 1),
      maxConnections: Math.floor(pick('maxConnections', 1) ?? 256),
      streamUsage: raw['streamUsage'] !== false,
      probeIntervalMs: probe === true ? (pick('probeIntervalMs', 100) ?? (defaults.probeIntervalMs || 30_000)) : probe === false ? 0 : defaults.probeIntervalMs,
      breakerFailures: pick('breakerFailures', 1),
      breakerRecoveryMs: pick('breakerRecoveryMs', 0),
    },
    warnings,
  };
}
