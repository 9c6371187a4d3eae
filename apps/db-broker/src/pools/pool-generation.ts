import { ErrorCode, PatchbayError } from '@patchbay/core';
import { Pool, types, type PoolClient, type PoolConfig } from 'pg';
import { runStatement } from '../query/run-query';
import type { PoolSpec } from './pool-target';

/** The parts of pg-pool that {@link PoolGeneration.acquireNow} uses; not in its type definitions. */
interface PgIdleItem {
  client: PoolClient & { ref?: () => void };
  idleListener: unknown;
  timeoutId: NodeJS.Timeout | undefined;
}
interface PgPoolInternals {
  ending: boolean;
  _idle: PgIdleItem[] | undefined;
  _pendingQueue: unknown[] | undefined;
  _acquireClient(
    client: PoolClient,
    pending: { timedOut: boolean; callback: (error: unknown, client?: PoolClient) => void },
    idleListener: unknown,
    isNew: boolean,
  ): void;
}

/** Figures shown in status answers and exported as gauges. */
export interface PoolFigures {
  total: number;
  idle: number;
  inUse: number;
  waiting: number;
  max: number;
}

/** A checked-out connection. `release(error)` destroys it instead of returning it. */
export interface Lease {
  client: PoolClient;
  release(error?: unknown): void;
}

export interface PoolGenerationHooks {
  /** An idle pooled connection failed (server restart, terminated backend). Never fatal. */
  onIdleError(error: Error): void;
  /** Time spent waiting for a connection, in seconds. */
  onAcquired(seconds: number): void;
}

const BYTEA_OID = 17;
/** Results go out as JSON: bytea as its `\x...` text form rather than a Buffer object. */
function typeParser(oid: number, format?: 'text' | 'binary'): unknown {
  return oid === BYTEA_OID ? (value: string) => value : types.getTypeParser(oid, format ?? 'text');
}
const TYPE_PARSERS = { getTypeParser: typeParser as typeof types.getTypeParser };

/**
 * One `pg.Pool` built from one spec: the handle the broker runtime swaps on a URL or
 * credential change. The runtime closes it ({@link end}) once no work runs on it, so
 * leases handed out and callers queued in pg's waiting list finish first (ending a pg
 * pool with a non-empty waiting queue strands those callers).
 */
export class PoolGeneration {
  readonly pool: Pool;
  private ended = false;
  private readonly lastReleased = new WeakMap<PoolClient, number>();

  constructor(
    readonly spec: PoolSpec,
    /** The connection (connector) it belongs to. */
    readonly id: string,
    applicationName: string,
    private readonly hooks: PoolGenerationHooks,
  ) {
    const { target, settings } = spec;
    const config: PoolConfig = {
      host: target.host,
      port: target.port,
      database: target.database,
      user: target.user,
      max: settings.max,
      min: settings.min,
      idleTimeoutMillis: settings.idleTimeoutMs,
      connectionTimeoutMillis: settings.acquireTimeoutMs,
      statement_timeout: settings.statementTimeoutMs,
      // The client-side read timeout is the broker's own (runQuery), not pg's query_timeout.
      maxLifetimeSeconds: settings.maxLifetimeMs > 0 ? Math.max(1, Math.round(settings.maxLifetimeMs / 1000)) : 0,
      application_name: applicationName,
      keepAlive: true,
      types: TYPE_PARSERS,
    };
    if (target.password !== undefined) config.password = target.password;
    if (target.ssl) config.ssl = { rejectUnauthorized: false };
    this.pool = new Pool(config);
    // Without a listener an idle client's error (terminated backend, restart) is an
    // uncaught 'error' event and takes the process down.
    this.pool.on('error', (error) => this.hooks.onIdleError(error));
    // pg-pool takes its own listener off while a client is leased, so the same error
    // between two statements of a lease (a session's backend terminated while it waits
    // for its next query) had no listener at all. The lease's next statement fails with
    // the connection error and is classified there.
    this.pool.on('connect', (client) => client.on('error', (error: Error) => this.hooks.onIdleError(error)));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  figures(): PoolFigures {
    const total = this.pool.totalCount;
    const idle = this.pool.idleCount;
    return { total, idle, inUse: total - idle, waiting: this.pool.waitingCount, max: this.spec.settings.max };
  }

  /**
   * Checks out a connection, `SELECT 1`-checking it first when it sat idle longer than
   * the spec's `healthCheckIdleMs`.
   *
   * @throws PatchbayError POOL_EXHAUSTED when every connection stayed busy for the
   *   acquire timeout; the driver's error when the database cannot be reached.
   */
  async acquire(): Promise<Lease> {
    if (this.ended) throw new PatchbayError(ErrorCode.UNAVAILABLE, 'pool is closed', { retryAfterSeconds: 1 });
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      const fullAtStart = this.pool.totalCount >= this.spec.settings.max;
      let client: PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        throw this.acquireError(error, fullAtStart);
      }
      this.hooks.onAcquired((performance.now() - started) / 1000);
      const idleSince = this.lastReleased.get(client);
      const checkAfter = this.spec.settings.healthCheckIdleMs;
      if (idleSince !== undefined && checkAfter > 0 && Date.now() - idleSince > checkAfter) {
        try {
          await runStatement(client, 'SELECT 1', this.spec.settings.statementTimeoutMs);
        } catch (error) {
          client.release(error instanceof Error ? error : true);
          if (attempt < this.spec.settings.max) continue;
          throw error;
        }
      }
      return this.leaseOf(client);
    }
  }

  /**
   * {@link acquire} without a promise, a timer or a tick when an idle connection is free,
   * nobody waits for one, and it needs no health check: pg-pool's own checkout of an idle
   * client (the same `_acquireClient` its queue runs), called directly. Undefined
   * otherwise (or on a pg-pool without these internals): the caller takes {@link acquire}.
   */
  acquireNow(): Lease | undefined {
    const pool = this.pool as unknown as PgPoolInternals;
    if (this.ended || pool.ending || pool._pendingQueue?.length !== 0 || !pool._idle?.length || typeof pool._acquireClient !== 'function') return undefined;
    const item = pool._idle[pool._idle.length - 1] as PgIdleItem;
    const checkAfter = this.spec.settings.healthCheckIdleMs;
    const idleSince = this.lastReleased.get(item.client);
    if (idleSince !== undefined && checkAfter > 0 && Date.now() - idleSince > checkAfter) return undefined;
    pool._idle.pop();
    clearTimeout(item.timeoutId);
    item.client.ref?.();
    let acquired: PoolClient | undefined;
    pool._acquireClient(item.client, { timedOut: false, callback: (_error, client) => (acquired = client) }, item.idleListener, false);
    if (acquired === undefined) return undefined;
    this.hooks.onAcquired(0);
    return this.leaseOf(acquired);
  }

  /** Ends the pool now (idle connections close; leases out are destroyed on release). */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.pool.end().catch(() => undefined);
  }

  private leaseOf(client: PoolClient): Lease {
    let released = false;
    return {
      client,
      release: (error?: unknown) => {
        if (released) return;
        released = true;
        if (error === undefined) this.lastReleased.set(client, Date.now());
        client.release(error === undefined ? undefined : error instanceof Error ? error : true);
      },
    };
  }

  private acquireError(error: unknown, fullAtStart: boolean): unknown {
    if (error instanceof Error && /timeout exceeded when trying to connect/i.test(error.message)) {
      const figures = this.figures();
      if (fullAtStart || figures.total >= figures.max) {
        return new PatchbayError(ErrorCode.POOL_EXHAUSTED, `all ${figures.max} connections stayed busy for ${this.spec.settings.acquireTimeoutMs} ms`, {
          retryAfterSeconds: 1,
          details: { max: figures.max, waiting: figures.waiting },
        });
      }
      return Object.assign(new Error(`database did not accept a connection within ${this.spec.settings.acquireTimeoutMs} ms`), {
        code: 'ETIMEDOUT',
      });
    }
    return error;
  }
}
