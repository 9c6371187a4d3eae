import {
  BreakerState,
  CircuitBreaker,
  ConnectionState,
  ConnectionStateMachine,
  ErrorCode,
  PatchbayError,
  computeBackoff,
  type BackoffOptions,
  type BreakerStateChange,
  type StateChange,
} from '@patchbay/core';
import { Client } from 'pg';
import { isConnectionError } from '../errors/pg-errors';
import { runQuery, runStatement } from '../query/run-query';
import { PoolGeneration, type Lease, type PoolFigures } from './pool-generation';
import type { PoolSpec } from './pool-target';

/** What a connector pool reports to the outside (bus, metrics, logs). */
export interface PoolObserver {
  stateChanged(pool: ConnectorPool, change: StateChange): void;
  breakerChanged(pool: ConnectorPool, change: BreakerStateChange): void;
  swapped(pool: ConnectorPool, reason: string): void;
  drained(pool: ConnectorPool, display: string, timedOut: boolean): void;
  reconnectAttempt(pool: ConnectorPool, ok: boolean, error?: unknown): void;
  acquired(pool: ConnectorPool, seconds: number): void;
  idleError(pool: ConnectorPool, error: Error): void;
}

export interface ConnectorPoolOptions {
  configId: string;
  revision: number;
  spec: PoolSpec;
  observer: PoolObserver;
  /** Cap of the reconnect backoff, in ms. */
  reconnectMaxMs: number;
  drainTimeoutMs: number;
  instance: string;
}

/** Status of one connector's pool, as the API returns it. */
export interface PoolStatus {
  configId: string;
  state: ConnectionState;
  breaker: BreakerState;
  pool: PoolFigures;
  target: string;
  revision: number;
  /** Why the pool is not serving now; null while it is active. */
  lastError: { message: string; at: string } | null;
  /** The latest error that is no longer current, and when it cleared (the pool served again). */
  previousError: { message: string; at: string; clearedAt: string } | null;
  drainingPools: number;
  openSessions: number;
  retryAt: string | null;
}

/** Options of one call through {@link ConnectorPool.run}. */
export interface RunOptions {
  /** A statement timeout here counts against the breaker (the caller did not shorten it). */
  timeoutCounts: boolean;
}

/** Marks errors the breaker should count (statement timeouts under the connector's own limit). */
const countedFailures = new WeakSet<object>();

/**
 * Everything the broker holds for one `database` connector: the current pool
 * generation, generations still draining after a swap, the connection state machine,
 * the circuit breaker and the reconnect loop.
 *
 * Gates, in order: closed -> 404; down (`retrying`) -> fast 503 UPSTREAM_UNAVAILABLE with
 * Retry-After until a probe succeeds; breaker open -> 503 CIRCUIT_OPEN.
 */
export class ConnectorPool {
  readonly configId: string;
  readonly machine = new ConnectionStateMachine();
  readonly breaker: CircuitBreaker;
  private current: PoolGeneration;
  private readonly draining = new Set<PoolGeneration>();
  private revisionValue: number;
  private lastError: { message: string; at: Date } | undefined;
  private previousError: { message: string; at: Date; clearedAt: Date } | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  private nextProbeAt: number | undefined;
  private probing = false;
  private closed = false;
  /** Sessions currently pinned to a connection of this connector (kept by SessionService). */
  openSessions = 0;
  private readonly backoff: BackoffOptions;

  constructor(private readonly options: ConnectorPoolOptions) {
    this.configId = options.configId;
    this.revisionValue = options.revision;
    this.backoff = { initialDelayMs: Math.min(100, options.reconnectMaxMs), maxDelayMs: options.reconnectMaxMs, multiplier: 2, jitter: 'full' };
    this.machine.onChange((change) => {
      if (change.to === ConnectionState.ACTIVE) this.clearError();
      options.observer.stateChanged(this, change);
    });
    this.breaker = this.createBreaker(options.spec);
    this.current = this.createGeneration(options.spec);
  }

  get spec(): PoolSpec {
    return this.current.spec;
  }

  get revision(): number {
    return this.revisionValue;
  }

  get state(): ConnectionState {
    return this.machine.state;
  }

  /** Connects the first time: `discovered -> connecting -> active` (or `retrying`). */
  start(): void {
    this.machine.transition(ConnectionState.CONNECTING, 'connector discovered');
    void this.probeCurrent();
  }

  /**
   * Applies a newer revision. A different pool spec (url, credentials, sizing) swaps
   * pools at once: new work goes to the new pool, the old one drains then closes.
   */
  update(revision: number, spec: PoolSpec): void {
    this.revisionValue = Math.max(this.revisionValue, revision);
    if (this.closed || spec.fingerprint === this.current.spec.fingerprint) return;
    const breakerChanged =
      spec.settings.breakerFailures !== this.current.spec.settings.breakerFailures ||
      spec.settings.breakerRecoveryMs !== this.current.spec.settings.breakerRecoveryMs;
    this.replaceGeneration(spec, `revision ${revision}`);
    if (breakerChanged) this.breaker.reset();
    if (this.machine.state === ConnectionState.ACTIVE) this.machine.transition(ConnectionState.CONNECTING, 'pool swapped');
    if (this.machine.state !== ConnectionState.RETRYING) void this.probeCurrent();
    else this.scheduleReconnect(0);
  }

  /**
   * Runs `work` on a leased connection through the gates and the breaker. Connection
   * failures mark the database down (starting the reconnect loop) and destroy the client.
   */
  run<T>(work: (lease: Lease) => Promise<T>, runOptions: RunOptions): Promise<T> {
    try {
      this.assertUsable();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.breaker.execute(() => this.runLeased(work, runOptions));
  }

  private async runLeased<T>(work: (lease: Lease) => Promise<T>, runOptions: RunOptions): Promise<T> {
    let lease: Lease;
    try {
      lease = await this.current.acquire();
    } catch (error) {
      if (isConnectionError(error)) this.markDown(error);
      throw error;
    }
    try {
      const result = await work(lease);
      lease.release();
      return result;
    } catch (error) {
      if (isConnectionError(error)) {
        lease.release(error);
        this.markDown(error);
      } else {
        lease.release(this.clientUnusable(lease) ? error : undefined);
        if (runOptions.timeoutCounts && typeof error === 'object' && error !== null && isTimeout(error)) countedFailures.add(error);
      }
      throw error;
    }
  }

  /** Operator control of the breaker: hold it open, disable it, or reset it to closed. */
  controlBreaker(action: 'open' | 'disable' | 'reset'): void {
    if (action === 'open') this.breaker.forceOpen();
    else if (action === 'disable') this.breaker.forceClose();
    else this.breaker.reset();
  }

  /** A lease held beyond one call (sessions). Same gates as {@link run}. */
  async lease(): Promise<Lease> {
    this.assertUsable();
    return this.breaker.execute(() => this.acquireOrMarkDown());
  }

  /** Reports a connection failure seen outside {@link run} (e.g. inside a session). */
  reportConnectionError(error: unknown): void {
    if (isConnectionError(error)) this.markDown(error);
  }

  figures(): PoolFigures {
    const figures = this.current.figures();
    for (const old of this.draining) {
      const f = old.figures();
      figures.total += f.total;
      figures.idle += f.idle;
      figures.inUse += f.inUse;
      figures.waiting += f.waiting;
    }
    return figures;
  }

  status(): PoolStatus {
    const retryAt = this.machine.state === ConnectionState.RETRYING && this.nextProbeAt !== undefined ? new Date(this.nextProbeAt) : this.breaker.retryAt;
    return {
      configId: this.configId,
      state: this.machine.state,
      breaker: this.breaker.state,
      pool: this.figures(),
      target: this.current.spec.display,
      revision: this.revisionValue,
      lastError: this.lastError ? { message: this.lastError.message, at: this.lastError.at.toISOString() } : null,
      previousError: this.previousError
        ? { message: this.previousError.message, at: this.previousError.at.toISOString(), clearedAt: this.previousError.clearedAt.toISOString() }
        : null,
      drainingPools: this.draining.size,
      openSessions: this.openSessions,
      retryAt: retryAt ? retryAt.toISOString() : null,
    };
  }

  /** Deleted connector or shutdown: no new work; every generation drains, then closes. */
  async close(drainTimeoutMs = this.options.drainTimeoutMs): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.machine.transition(ConnectionState.CLOSED, 'connector closed');
    const all = [this.current, ...this.draining];
    await Promise.all(all.map((generation) => generation.drain(drainTimeoutMs)));
  }

  private assertUsable(): void {
    if (this.closed) throw PatchbayError.notFound(`database connector '${this.configId}'`);
    if (this.machine.state === ConnectionState.RETRYING) {
      const seconds = this.nextProbeAt === undefined ? 1 : Math.max(1, Math.ceil((this.nextProbeAt - Date.now()) / 1000));
      throw new PatchbayError(
        ErrorCode.UPSTREAM_UNAVAILABLE,
        `database '${this.configId}' is unreachable; reconnecting${this.lastError ? ` (last error: ${this.lastError.message})` : ''}`,
        { retryAfterSeconds: seconds, details: { configId: this.configId, state: this.machine.state } },
      );
    }
  }

  private async acquireOrMarkDown(): Promise<Lease> {
    try {
      return await this.current.acquire();
    } catch (error) {
      if (isConnectionError(error)) this.markDown(error);
      throw error;
    }
  }

  private clientUnusable(lease: Lease): boolean {
    // A statement that left a transaction open must not hand that state to the next user.
    const status = (lease.client as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
    return status !== undefined && status !== null && status !== 'I';
  }

  private createBreaker(spec: PoolSpec): CircuitBreaker {
    const breaker = new CircuitBreaker({
      name: this.options.configId,
      kind: 'database-pool',
      consecutiveFailures: spec.settings.breakerFailures,
      recoveryTimeoutMs: spec.settings.breakerRecoveryMs,
      isFailure: (error) => isConnectionError(error) || (typeof error === 'object' && error !== null && countedFailures.has(error)),
    });
    breaker.onStateChange((change) => this.options.observer.breakerChanged(this, change));
    return breaker;
  }

  private createGeneration(spec: PoolSpec): PoolGeneration {
    return new PoolGeneration(spec, `patchbay-db-broker:${this.configId}`, {
      onIdleError: (error) => {
        this.options.observer.idleError(this, error);
        // pg drops the failed idle client and the pool goes on serving: history, not current.
        if (this.machine.state === ConnectionState.ACTIVE) this.previousError = { message: errorMessage(error), at: new Date(), clearedAt: new Date() };
        else this.recordError(error);
      },
      onAcquired: (seconds) => this.options.observer.acquired(this, seconds),
    });
  }

  private replaceGeneration(spec: PoolSpec, reason: string): void {
    const old = this.current;
    this.current = this.createGeneration(spec);
    this.draining.add(old);
    this.options.observer.swapped(this, reason);
    void old.drain(this.options.drainTimeoutMs).then(({ timedOut }) => {
      this.draining.delete(old);
      this.options.observer.drained(this, old.spec.display, timedOut);
    });
  }

  /** Checks the current pool with `SELECT 1` and warms `min` connections. */
  private async probeCurrent(): Promise<void> {
    const generation = this.current;
    try {
      const leases = await Promise.all(Array.from({ length: Math.max(1, generation.spec.settings.min) }, () => generation.acquire()));
      try {
        if (leases[0]) await runStatement(leases[0].client, 'SELECT 1', generation.spec.settings.statementTimeoutMs);
      } finally {
        for (const lease of leases) lease.release();
      }
      if (this.closed || generation !== this.current) return;
      if (this.machine.state === ConnectionState.CONNECTING) this.machine.transition(ConnectionState.ACTIVE, 'connected');
    } catch (error) {
      if (this.closed || generation !== this.current) return;
      // Any failure here (unreachable, wrong password, missing database) leaves the
      // pool unusable: fail fast and keep probing until it works.
      if (error instanceof PatchbayError && error.code === ErrorCode.POOL_EXHAUSTED) this.recordError(error);
      else this.markDown(error);
    }
  }

  private markDown(error: unknown): void {
    this.recordError(error);
    if (this.closed || this.machine.state === ConnectionState.RETRYING) return;
    this.machine.transition(ConnectionState.RETRYING, errorMessage(error));
    this.reconnectAttempt = 0;
    this.scheduleReconnect();
  }

  private scheduleReconnect(delayMs?: number): void {
    if (this.closed) return;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectAttempt++;
    const delay = delayMs ?? computeBackoff(this.reconnectAttempt, this.backoff);
    this.nextProbeAt = Date.now() + delay;
    this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
    this.reconnectTimer.unref();
  }

  /**
   * One reconnect probe on a separate client (so a failure never touches pool state).
   * On success the pool is replaced by a fresh generation: connections opened before
   * the outage may be half-dead.
   */
  private async reconnect(): Promise<void> {
    this.reconnectTimer = undefined;
    if (this.closed || this.probing) return;
    this.probing = true;
    const spec = this.current.spec;
    const client = new Client({
      host: spec.target.host,
      port: spec.target.port,
      database: spec.target.database,
      user: spec.target.user,
      ...(spec.target.password === undefined ? {} : { password: spec.target.password }),
      ...(spec.target.ssl ? { ssl: { rejectUnauthorized: false } } : {}),
      connectionTimeoutMillis: spec.settings.acquireTimeoutMs,
      application_name: `patchbay-db-broker:${this.configId}:probe`,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await runQuery(client, 'SELECT 1', undefined, spec.settings.acquireTimeoutMs);
      this.probing = false;
      if (this.closed) return;
      if (spec !== this.current.spec) {
        // The connector changed while probing: probe the new target instead.
        this.scheduleReconnect(0);
        return;
      }
      this.options.observer.reconnectAttempt(this, true);
      this.replaceGeneration(spec, 'reconnected');
      this.nextProbeAt = undefined;
      if (this.breaker.state === BreakerState.OPEN || this.breaker.state === BreakerState.HALF_OPEN) this.breaker.reset();
      this.machine.transition(ConnectionState.ACTIVE, `reconnected after ${this.reconnectAttempt} attempt(s)`);
    } catch (error) {
      this.probing = false;
      this.recordError(error);
      this.options.observer.reconnectAttempt(this, false, error);
      this.scheduleReconnect();
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private recordError(error: unknown): void {
    this.lastError = { message: errorMessage(error), at: new Date() };
  }

  /** The pool serves again: the current error becomes history. */
  private clearError(): void {
    if (!this.lastError) return;
    this.previousError = { ...this.lastError, clearedAt: new Date() };
    this.lastError = undefined;
  }
}

function isTimeout(error: object): boolean {
  return (error as { code?: unknown }).code === '57014';
}

function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors[0] instanceof Error) return error.errors[0].message;
  return error instanceof Error ? error.message : String(error);
}
