import { createHash } from 'node:crypto';
import { ErrorCode, isPatchbayError, type ResolvedConnector } from '@patchbay/core';
import type { BrokerDriver, ConnectionSettings, ErrorClass, PlannedConnection } from '@patchbay/nest';
import { Pool } from 'undici';
import type { ProxySettings } from '../config/settings';
import { ProbeAnswered } from '../health/upstream-prober';
import { AttemptFailure, FailureKind } from '../proxy/classify';
import { upstreamOptions, type UpstreamOptions } from './connector-options';

/** Where an upstream's connection details came from. */
export type UpstreamSource = 'registry' | 'env';

/** Everything needed to reach one `llm` connector. Secrets stay inside this object. */
export interface UpstreamSpec {
  configId: string;
  url: string;
  origin: string;
  /** The URL's path without a trailing slash (`/v1`); endpoints are appended. */
  basePath: string;
  /** Headers to send upstream (Authorization with the injected key), names lower-cased. */
  headers: Record<string, string>;
  /** The raw key, only to scrub it from anything passed back to clients. */
  apiKey: string | undefined;
  options: UpstreamOptions;
  source: UpstreamSource;
}

/** Runs the health probe (`GET {url}/models`) on a pool; rejects when it fails. */
export type UpstreamCheck = (pool: Pool, spec: UpstreamSpec, signal: AbortSignal) => Promise<void>;

function lowerCaseHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

/** Sent to Anthropic upstreams unless the client (or the connector) names another. */
const ANTHROPIC_VERSION = '2023-06-01';

/** Longest a swapped-out pool waits for the attempts still on it before it closes (streams drain inside undici). */
const DRAIN_TIMEOUT_MS = 30_000;
const RECONNECT_MAX_MS = 5_000;

/**
 * `llm` connectors for the broker runtime: the handle is the upstream's keep-alive undici
 * pool (opening one connects nothing; the probe, when the connector enables it, checks
 * `GET {url}/models`). Errors: no connection at all -> `connection`; 5xx, timeouts,
 * garbage, rejected credentials -> `failure`; 429s and cancellations -> `caller` (a 429
 * is the upstream protecting itself, not sickness).
 */
export class LlmDriver implements BrokerDriver<UpstreamSpec, Pool> {
  readonly types = ['llm'] as const;
  readonly kind = 'llm-upstream';
  /** Connectors defined by the local environment (seed 000). */
  readonly local = new Set<string>();

  constructor(
    private readonly proxy: ProxySettings,
    private readonly check: UpstreamCheck,
    private readonly warn: (configId: string, warning: string) => void,
  ) {}

  plan(connector: ResolvedConnector, options: Record<string, unknown>): PlannedConnection<UpstreamSpec>[] {
    if (!connector.url) throw new Error('llm connector has no url (not resolvable); not routing to it');
    const url = new URL(connector.url);
    const headers = lowerCaseHeaders(connector.headers);
    const apiKey = connector.credentials?.apiKey;
    const read = upstreamOptions(options, { ...this.proxy.defaults, probeIntervalMs: this.proxy.probeIntervalMs });
    if (read.options.provider === 'anthropic') {
      // Anthropic takes its key as x-api-key; the registry's resolved Bearer header is not sent.
      if (apiKey) {
        delete headers['authorization'];
        headers['x-api-key'] = apiKey;
      }
      headers['anthropic-version'] ??= ANTHROPIC_VERSION;
    } else if (apiKey && !headers['authorization']) headers['authorization'] = `Bearer ${apiKey}`;
    for (const warning of read.warnings) this.warn(connector.configId, warning);
    const spec: UpstreamSpec = {
      configId: connector.configId,
      url: connector.url,
      origin: url.origin,
      basePath: url.pathname.replace(/\/+$/, ''),
      headers,
      apiKey,
      options: read.options,
      source: this.local.has(connector.configId) ? 'env' : 'registry',
    };
    return [{ id: connector.configId, spec }];
  }

  /** Any change swaps the pool (the runtime applies nothing of an equal fingerprint); hashed, as it covers the key. */
  fingerprint(spec: UpstreamSpec): string {
    return createHash('sha256').update(JSON.stringify(spec)).digest('base64url');
  }

  settings(spec: UpstreamSpec): ConnectionSettings {
    return {
      breakerFailures: spec.options.breakerFailures ?? this.proxy.breakerFailures,
      breakerRecoveryMs: spec.options.breakerRecoveryMs ?? this.proxy.breakerRecoveryMs,
      reconnectMaxMs: RECONNECT_MAX_MS,
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
      healthIntervalMs: spec.options.probeIntervalMs,
    };
  }

  async open(spec: UpstreamSpec): Promise<Pool> {
    return new Pool(spec.origin, {
      connections: spec.options.maxConnections,
      connect: { timeout: spec.options.connectTimeoutMs },
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      pipelining: 1,
    });
  }

  /** Only connectors that enable probing get one: some upstreams do not serve `/models` to the key they take. */
  async probe(pool: Pool, spec: UpstreamSpec, signal: AbortSignal): Promise<void> {
    if (spec.options.probeIntervalMs > 0) await this.check(pool, spec, signal);
  }

  async close(pool: Pool): Promise<void> {
    // Requests still on it (a stream being relayed) finish first.
    await pool.close();
  }

  classify(error: unknown): ErrorClass {
    if (error instanceof ProbeAnswered) return 'caller';
    if (error instanceof AttemptFailure) {
      if (error.unreachable) return 'connection';
      return error.kind === FailureKind.RATE_LIMITED ? 'caller' : 'failure';
    }
    if (isPatchbayError(error)) return error.code === ErrorCode.CANCELLED ? 'caller' : 'failure';
    return 'failure';
  }

  breakerRecoveryFor(error: unknown): number | undefined {
    return error instanceof AttemptFailure && error.kind === FailureKind.AUTH ? this.proxy.authRecoveryMs : undefined;
  }

  describe(spec: UpstreamSpec): string {
    return `${spec.origin}${spec.basePath}`;
  }
}
