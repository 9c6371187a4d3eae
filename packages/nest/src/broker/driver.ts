import type { ConnectorType, ResolvedConnector } from '@patchbay/core';

/**
 * What a broker tells the runtime about one kind of connection (a Postgres pool, an LLM
 * upstream, an MCP server, an HTTP API). The runtime owns everything around it: following
 * the registry, the options schema, change detection, swap-and-drain, the state machine,
 * breaker, reconnect backoff, bus events, metrics, readiness, status and shutdown.
 *
 * `Spec` is what a connector asks for (parsed, validated, secrets included); `Handle` is the
 * live thing opened from it (a pool, a client, a dispatcher).
 */
export interface BrokerDriver<Spec, Handle> {
  /** Connector types this driver serves, e.g. `['database']`. */
  readonly types: readonly ConnectorType[];
  /** Names this kind of connection in bus events, metrics and logs, e.g. `database-pool`. */
  readonly kind: string;

  /**
   * The connections a connector asks for, each with a stable id: one per connector
   * (id = configId) usually, one per member for an `agent_tool` array. `options` were read
   * with the shared per-type schema (out-of-bounds values replaced by defaults and reported).
   * @throws to mark the connector misconfigured (503 with the message, until a fix arrives).
   */
  plan(connector: ResolvedConnector, options: Record<string, unknown>): PlannedConnection<Spec>[];

  /** Equal fingerprints: nothing to apply (e.g. only the revision moved). Never holds secrets in clear. */
  fingerprint(spec: Spec): string;

  /** Timing and breaker settings of a connection (from its options and the service's defaults). */
  settings(spec: Spec): ConnectionSettings;

  /** Opens the live handle. Rejects when the target cannot be reached (the runtime retries with backoff). */
  open(spec: Spec, context: OpenContext): Promise<Handle>;

  /** Checks that an open handle serves (run after open, and every `healthIntervalMs`). Optional. */
  probe?(handle: Handle, spec: Spec, signal: AbortSignal): Promise<void>;

  /** Closes a handle no work uses any more (after its drain, or at once when forced). */
  close(handle: Handle, reason: CloseReason): Promise<void>;

  /**
   * What an error thrown while using a handle means:
   * `connection`: the target is lost; the connection goes `retrying` and reconnects (counts for the breaker too);
   * `failure`: the call failed in a way that counts against the breaker (e.g. a timeout, an upstream 5xx);
   * `caller`: the caller's own fault (bad SQL, a 4xx); neither.
   */
  classify(error: unknown): ErrorClass;

  /**
   * How long the breaker stays open after `error` opened it, when not `breakerRecoveryMs`
   * (e.g. longer for rejected credentials, which no retry soon will fix). Optional.
   */
  breakerRecoveryFor?(error: unknown): number | undefined;

  /** Target shown in status (no secrets), e.g. `postgres://app@db:5432/app`. */
  describe(spec: Spec): string;

  /**
   * Extra, driver-specific status fields (pool figures, catalog size), merged flat into the
   * status. `draining` are the handles swapped out and still finishing their work. Optional.
   */
  details?(handle: Handle | undefined, spec: Spec, draining: readonly Handle[]): Record<string, unknown>;
}

export interface PlannedConnection<Spec> {
  /** Unique in the broker; the configId, or `<configId>.<member>` for array members. */
  id: string;
  spec: Spec;
}

export type ErrorClass = 'connection' | 'failure' | 'caller';
/** `failed`: a handle opened for a reconnect that failed its probe (or is no longer wanted). */
export type CloseReason = 'swapped' | 'removed' | 'reconnected' | 'shutdown' | 'failed';

export interface OpenContext {
  /** The connection's id (for names such as `application_name`). */
  id: string;
  /** Aborted when the open is no longer wanted (a newer spec, a removal, shutdown). */
  signal: AbortSignal;
  /**
   * Reports an error the handle survived (an idle pooled connection dropped): shown as the
   * connection's previous error while active, as its last error otherwise.
   */
  incident(error: unknown): void;
}

export interface ConnectionSettings {
  /** Consecutive counted failures that open the breaker. */
  breakerFailures: number;
  /** How long the breaker stays open before one trial call. */
  breakerRecoveryMs: number;
  /** Cap of the reconnect backoff. */
  reconnectMaxMs: number;
  /** Start of the reconnect backoff (default 100 ms). */
  reconnectInitialMs?: number;
  /** How long a swapped-out or removed handle may finish its work before it is closed anyway. */
  drainTimeoutMs: number;
  /** 0 or absent: no periodic probe. */
  healthIntervalMs?: number;
  /** Failed opens in a row before the connection is `dead` (absent: retry forever). */
  maxRetries?: number;
}
