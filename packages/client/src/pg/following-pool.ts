import { DEFAULT_BACKOFF, ErrorCode, PatchbayError, computeBackoff, type BackoffOptions, type ResolvedConnector } from '@patchbay/core';
import { Pool, type PoolClient, type PoolConfig, type QueryResult, type QueryResultRow } from 'pg';
import { databaseUrlOf, type ConnectorClient, type FollowedConnector } from '../connector-client';

export type PoolState = 'connecting' | 'active' | 'retrying' | 'closed';

export interface PoolEvent {
  type: 'active' | 'retrying' | 'swapped' | 'removed';
  /** Reconnect attempt number while retrying. */
  attempt?: number;
  /** When the next attempt runs (epoch ms) while retrying. */
  retryAt?: number;
  /** Failure code (a SQLSTATE or a Node error code), never a message with a URL in it. */
  error?: string;
}

export interface FollowingPoolOptions {
  /** Default `DATABASE`. */
  configId?: string;
  /** pg pool settings; the connection string always comes from the connector. */
  pool?: Omit<PoolConfig, 'connectionString'>;
  /** Reconnect delays (default 200 ms doubling to 10 s, full jitter). */
  backoff?: Partial<BackoffOptions>;
  onEvent?: (event: PoolEvent) => void;
}

// Connection-level failures: the server is gone or refusing, not a bad query.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

function failureCode(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return /terminated|Connection/i.test(String((error as Error).message)) ? 'CONNECTION_LOST' : 'ERROR';
}

function isConnectionFailure(error: unknown): boolean {
  const code = failureCode(error);
  return CONNECTION_CODES.has(code) || code === 'CONNECTION_LOST';
}

/**
 * A `pg` pool for a `database` connector that follows it: starts even when the database
 * (or the registry) is down, reconnects with backoff and jitter, fails fast while the
 * database is known to be down, and swaps to a new pool when the connector's URL or
 * credentials change (in-flight queries finish on the old pool, which then closes).
 */
export class FollowingPool {
  private pool: Pool | undefined;
  private url: string | undefined;
  private stateValue: PoolState = 'connecting';
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private retryAt = 0;
  private followed: FollowedConnector | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly configId: string;
  private readonly backoff: BackoffOptions;

  private constructor(
    private readonly client: ConnectorClient,
    private readonly options: FollowingPoolOptions,
  ) {
    this.configId = options.configId ?? 'DATABASE';
    this.backoff = { ...DEFAULT_BACKOFF, initialDelayMs: 200, maxDelayMs: 10_000, ...options.backoff };
  }

  /**
   * Opens the pool. Never waits for the database; use `ready()` for that. In local mode a
   * `{CONFIG_ID}_URL` in the environment is used as is and not followed.
   */
  static async open(client: ConnectorClient, options: FollowingPoolOptions = {}): Promise<FollowingPool> {
    const pool = new FollowingPool(client, options);
    await pool.start();
    return pool;
  }

  get state(): PoolState {
    return this.stateValue;
  }

  /** Resolves once a connection succeeded (now or later). */
  ready(): Promise<void> {
    if (this.stateValue === 'active') return Promise.resolve();
    if (this.stateValue === 'closed') return Promise.reject(new PatchbayError(ErrorCode.UNAVAILABLE, 'pool is closed'));
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  /**
   * Runs one query on the current pool.
   *
   * @throws PatchbayError UPSTREAM_UNAVAILABLE at once while the database is down (with
   * `details.retryAt`), NOT_FOUND when the connector has no URL; pg's own errors otherwise.
   */
  async query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
    const pool = this.current();
    try {
      return await pool.query<R>(text, params);
    } catch (error) {
      if (isConnectionFailure(error) && pool === this.pool) this.markDown(error);
      throw error;
    }
  }

  /** Checks out a client (release it!) for transactions; same failure rules as `query`. */
  async connect(): Promise<PoolClient> {
    const pool = this.current();
    try {
      return await pool.connect();
    } catch (error) {
      if (isConnectionFailure(error) && pool === this.pool) this.markDown(error);
      throw error;
    }
  }

  /** Stops following and closes the pool (after its checked-out clients are released). */
  async close(): Promise<void> {
    this.setState('closed');
    clearTimeout(this.timer);
    this.followed?.close();
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  private current(): Pool {
    if (this.stateValue === 'closed') throw new PatchbayError(ErrorCode.UNAVAILABLE, 'pool is closed');
    if (!this.pool) throw new PatchbayError(ErrorCode.NOT_FOUND, `connector '${this.configId}' has no database url yet`);
    if (this.stateValue === 'retrying') {
      throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `database of '${this.configId}' is unreachable; reconnecting`, {
        details: { retryAt: new Date(this.retryAt).toISOString() },
      });
    }
    return this.pool;
  }

  private async start(): Promise<void> {
    const local = this.client.environment.mode === 'local' ? await this.client.getApiParameters(this.configId).catch(() => undefined) : undefined;
    if (local?.url && local.url.startsWith('postgres')) {
      this.swap(local.url);
      return;
    }
    try {
      this.followed = await this.client.follow(this.configId, {
        onChange: (connector) => this.apply(connector),
        onError: (error) => this.options.onEvent?.({ type: 'retrying', error: failureCode(error) }),
      });
      this.apply(this.followed.current);
    } catch (error) {
      if (error instanceof PatchbayError && (error.code === ErrorCode.UNAUTHORIZED || error.code === ErrorCode.FORBIDDEN)) throw error;
      // Registry down at start: try again with backoff, like the database itself.
      this.attempt += 1;
      const delay = computeBackoff(Math.min(this.attempt, 20), this.backoff);
      this.retryAt = Date.now() + delay;
      this.options.onEvent?.({ type: 'retrying', attempt: this.attempt, retryAt: this.retryAt, error: failureCode(error) });
      this.timer = setTimeout(() => void this.start().catch(() => undefined), delay);
      this.timer.unref();
    }
  }

  private apply(connector: ResolvedConnector | undefined): void {
    if (this.stateValue === 'closed') return;
    if (!connector?.url) {
      const old = this.pool;
      this.pool = undefined;
      this.url = undefined;
      void old?.end().catch(() => undefined);
      this.options.onEvent?.({ type: 'removed' });
      return;
    }
    this.swap(databaseUrlOf(connector));
  }

  private swap(url: string): void {
    if (url === this.url && this.pool) return;
    const old = this.pool;
    const pool = new Pool({ ...this.options.pool, connectionString: url });
    // An idle client losing its server must not crash the process: note it and reconnect.
    pool.on('error', (error) => {
      if (pool === this.pool && isConnectionFailure(error)) this.markDown(error);
    });
    this.pool = pool;
    this.url = url;
    this.attempt = 0;
    clearTimeout(this.timer);
    if (old) {
      this.options.onEvent?.({ type: 'swapped' });
      void old.end().catch(() => undefined);
    }
    this.setState('connecting');
    void this.probe();
  }

  private markDown(error: unknown): void {
    if (this.stateValue === 'retrying' || this.stateValue === 'closed') return;
    this.scheduleProbe(error);
  }

  private scheduleProbe(error: unknown): void {
    this.attempt += 1;
    const delay = computeBackoff(Math.min(this.attempt, 20), this.backoff);
    this.retryAt = Date.now() + delay;
    this.setState('retrying');
    this.options.onEvent?.({ type: 'retrying', attempt: this.attempt, retryAt: this.retryAt, error: failureCode(error) });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.probe(), delay);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    const pool = this.pool;
    if (!pool || this.stateValue === 'closed') return;
    try {
      await pool.query('SELECT 1');
      if (pool !== this.pool) return;
      this.attempt = 0;
      this.setState('active');
      this.options.onEvent?.({ type: 'active' });
    } catch (error) {
      // Closed or swapped meanwhile: this pool's failure no longer matters.
      if (pool !== this.pool) return;
      this.scheduleProbe(error);
    }
  }

  private setState(state: PoolState): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = state;
    if (state === 'active') {
      for (const wake of this.waiters) wake();
      this.waiters.clear();
    }
  }
}
