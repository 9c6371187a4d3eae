import { createHash } from 'node:crypto';
import { API_OPTIONS, isPatchbayError, ErrorCode, type ResolvedConnector } from '@patchbay/core';
import type { BrokerDriver, ConnectionSettings, ErrorClass, PlannedConnection } from '@patchbay/nest';
import { Pool } from 'undici';
import type { ApiSpec, ApiUpstream } from '../forward/api-spec';
import { injectedHeaders } from '../forward/credentials';
import { isCallerError, UpstreamStatusError } from '../forward/upstream-errors';
import { parseUpstreamBase } from '../forward/upstream-url';

/** What applies when a connector's options leave a value out. */
export interface ApiDefaults {
  timeoutMs: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  maxRetries: number;
  maxConnections: number;
  bodyLimitBytes: number;
  breakerFailures: number;
  breakerRecoveryMs: number;
}

export const API_DEFAULTS: ApiDefaults = {
  timeoutMs: 60_000,
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 30_000,
  maxRetries: 2,
  maxConnections: 128,
  bodyLimitBytes: 32 * 1024 * 1024,
  breakerFailures: 5,
  breakerRecoveryMs: 10_000,
};

/** How long a swapped-out pool may finish its exchanges when the connector sets no total limit. */
const UNBOUNDED_DRAIN_MS = 5 * 60_000;

/**
 * The api-broker's driver: one undici pool per `api` / `endpoint` connector, for the origin
 * of its resolved url. A pool dials per request and redials lost sockets itself, so there is
 * no session to open or probe: a refused or dropped connection is one request's failure,
 * counted by the breaker, not a reason to take the whole connector down.
 */
export class ApiDriver implements BrokerDriver<ApiSpec, ApiUpstream> {
  readonly types = ['api', 'endpoint'] as const;
  readonly kind = 'http-api';

  constructor(private readonly defaults: ApiDefaults = API_DEFAULTS) {}

  plan(connector: ResolvedConnector, options: Record<string, unknown>): PlannedConnection<ApiSpec>[] {
    if (!connector.url) {
      throw new Error(`no url: give the connector a url, a stackId (stack mode) or set ${connector.configId}_URL in the registry's environment (local mode)`);
    }
    // Already checked by the runtime with this schema; parsed again for its types.
    const o = API_OPTIONS.parse(options);
    const d = this.defaults;
    const spec: ApiSpec = {
      configId: connector.configId,
      base: parseUpstreamBase(connector.url),
      injected: injectedHeaders(connector.credentials, { headers: o.headers, apiKeyHeader: o.apiKeyHeader }),
      totalTimeoutMs: o.timeoutMs ?? d.timeoutMs,
      connectTimeoutMs: o.connectTimeoutMs ?? d.connectTimeoutMs,
      headersTimeoutMs: o.headersTimeoutMs ?? d.headersTimeoutMs,
      maxRetries: o.maxRetries ?? d.maxRetries,
      maxConnections: o.maxConnections ?? d.maxConnections,
      bodyLimitBytes: o.bodyLimitBytes ?? d.bodyLimitBytes,
      breakerFailures: o.breakerFailures ?? d.breakerFailures,
      breakerRecoveryMs: o.breakerRecoveryMs ?? d.breakerRecoveryMs,
    };
    return [{ id: connector.configId, spec }];
  }

  fingerprint(spec: ApiSpec): string {
    // Hashed: the injected headers hold the connector's secrets.
    return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
  }

  settings(spec: ApiSpec): ConnectionSettings {
    return {
      breakerFailures: spec.breakerFailures,
      breakerRecoveryMs: spec.breakerRecoveryMs,
      reconnectMaxMs: 10_000,
      drainTimeoutMs: spec.totalTimeoutMs > 0 ? spec.totalTimeoutMs + 1_000 : UNBOUNDED_DRAIN_MS,
    };
  }

  open(spec: ApiSpec): Promise<ApiUpstream> {
    const dispatcher = new Pool(spec.base.origin, {
      connections: spec.maxConnections,
      connect: { timeout: spec.connectTimeoutMs },
      headersTimeout: spec.headersTimeoutMs,
      // Silence between body chunks is bounded by the total limit only (SSE streams idle).
      bodyTimeout: 0,
    });
    return Promise.resolve({ dispatcher, spec });
  }

  async close(upstream: ApiUpstream): Promise<void> {
    // The runtime closes a handle once its exchanges are done, or after the drain timeout:
    // either way nothing is left worth waiting for.
    await upstream.dispatcher.destroy();
  }

  classify(error: unknown): ErrorClass {
    if (isCallerError(error)) return 'caller';
    if (error instanceof UpstreamStatusError) return 'failure';
    // The caller went away mid-answer (the response closed before the upstream's body ended).
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ERR_STREAM_PREMATURE_CLOSE') return 'caller';
    if (isPatchbayError(error) && error.code === ErrorCode.CANCELLED) return 'caller';
    return 'failure';
  }

  describe(spec: ApiSpec): string {
    // Not the query: it may carry a key.
    return `${spec.base.origin}${spec.base.basePath}`;
  }

  details(upstream: ApiUpstream | undefined): Record<string, unknown> {
    if (!upstream || !(upstream.dispatcher instanceof Pool)) return {};
    const { connected, free, pending, running } = upstream.dispatcher.stats;
    return { sockets: { connected, free }, requests: { pending, running } };
  }
}
