import type { Dispatcher } from 'undici';
import type { UpstreamBase } from './upstream-url';

/** What one `api` / `endpoint` connector asks for: parsed, validated, secrets included. */
export interface ApiSpec {
  configId: string;
  base: UpstreamBase;
  /** Lower-case header names -> values added to every request (credentials and `options.headers`). */
  injected: Readonly<Record<string, string>>;
  /** Whole exchange, retries and the response body included; 0 = none. */
  totalTimeoutMs: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  /** Extra tries for idempotent requests. */
  maxRetries: number;
  maxConnections: number;
  bodyLimitBytes: number;
  breakerFailures: number;
  breakerRecoveryMs: number;
}

/** One live upstream: a dispatcher for the connector's origin and the spec it was opened from. */
export interface ApiUpstream {
  readonly dispatcher: Dispatcher;
  readonly spec: ApiSpec;
}

/**
 * How the forwarder reaches a connector's upstream. Each attempt asks again, so a retry
 * after a hot swap goes to the new upstream, and the breaker sees every attempt.
 */
export interface UpstreamAccess {
  /** The spec in force when the request arrived (its retry and time budgets). */
  readonly spec: ApiSpec;
  use<T>(work: (upstream: ApiUpstream) => Promise<T>, signal: AbortSignal): Promise<T>;
}
