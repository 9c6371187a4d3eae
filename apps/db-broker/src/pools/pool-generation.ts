import { ErrorCode, PatchbayError } from '@patchbay/core';
import { Pool, types, type PoolClient, type PoolConfig } from 'pg';
import { runStatement } from '../query/run-query';
import type { PoolSpec } from './pool-target';
import { serverSocket } from './server-socket';

/** The parts of pg-pool that {@link PoolGeneration.acquireNow} uses; not in its type definitions. */
interface PgIdleItem {
  client: PoolClient & { ref?: () => void };
  idleListener: unknown;
  timeoutId: NodeJS.Timeout | undefined;
}
interface PgPoolInternals {
  ending: boolean;
  /** Clients past `maxLifetimeSeconds`: pg-pool removes them on release. */
  _expired: WeakSet<PoolClient> | undefined;
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

/** How often connections parked by {@link PoolGeneration} and not taken since the last look go back to pg-pool. */
const PARKED_SWEEP_MS = 1000;
/**
 * A parked connection was released within the last two sweeps: with a health-check
 * threshold at least this long (the default is 30 s) it is never due, so a transaction
 * that parks and unparks one reads no clock. The margin covers sweeps run late by a busy loop.
 */
const PARKED_FRESH_MS = 10 * PARKED_SWEEP_MS;

/**
 * One `pg.Pool` built from one spec: the handle the broker runtime swaps on a URL or
 * credential change. The runtime closes it ({@link end}) once no work runs on it, so
 * leases handed out and callers queued in pg's waiting list finish first (ending a pg
 * pool with a non-empty waiting queue strands those callers).
 */
export class PoolGeneration {
  readonly pool: Pool;
  private ended = false;
  /** When a connection went back to pg-pool (or was parked, under a short health-check threshold). */
  private readonly lastReleased = new WeakMap<PoolClient, number>();
  /** The health-check threshold is long enough that a parked connection is never due (see PARKED_FRESH_MS). */
  private readonly parkedFresh: boolean;
  /**
   * Connections a lease gave back while nobody waited in pg-pool's queue, newest last:
   * still checked out of pg-pool, so the next lease takes one without pg-pool's release
   * and checkout (an idle timer set and cleared, its error listener added and removed,
   * two events) per transaction. The ones no lease took between two sweeps go back to
   * pg-pool, whose idle timeout, lifetime and `min` then apply as before.
   */
  private readonly parked: PoolClient[] = [];
  /** The fewest connections parked since the last sweep: that many were not needed. */
  private parkedLow = 0;
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: PoolSpec,
    /** The connection (connector) it belongs to. */
    readonly id: string,
    applicationName: string,
    private readonly hooks: PoolGenerationHooks,
  ) {
    const { target, settings } = spec;
    this.parkedFresh = settings.healthCheckIdleMs >= PARKED_FRESH_MS;
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
    // pg wraps a socket of its own in TLS; a plain one reads without the Readable stream.
    else config.stream = serverSocket;
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
    const idle = this.pool.idleCount + this.parked.length;
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
      let client = this.unpark();
      const parked = client !== undefined;
      if (client === undefined) {
        try {
          client = await this.pool.connect();
        } catch (error) {
          throw this.acquireError(error, fullAtStart);
        }
      }
      this.hooks.onAcquired((performance.now() - started) / 1000);
      if (this.needsCheck(client, parked)) {
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
   * nobody waits for one, and it needs no health check: the newest parked connection, else
   * pg-pool's own checkout of an idle client (the same `_acquireClient` its queue runs),
   * called directly. Undefined
   * otherwise (or on a pg-pool without these internals): the caller takes {@link acquire}.
   */
  acquireNow(): Lease | undefined {
    const pool = this.pool as unknown as PgPoolInternals;
    if (this.ended || pool.ending || pool._pendingQueue?.length !== 0) return undefined;
    const top = this.parked[this.parked.length - 1];
    if (top !== undefined) {
      if (this.needsCheck(top, true)) return undefined;
      const client = this.unpark();
      if (client !== undefined) {
        this.hooks.onAcquired(0);
        return this.leaseOf(client);
      }
    }
    if (!pool._idle?.length || typeof pool._acquireClient !== 'function') return undefined;
    const item = pool._idle[pool._idle.length - 1] as PgIdleItem;
    if (this.needsCheck(item.client, false)) return undefined;
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
    clearTimeout(this.sweep);
    this.sweep = undefined;
    for (const client of this.parked.splice(0)) client.release();
    await this.pool.end().catch(() => undefined);
  }

  private leaseOf(client: PoolClient): Lease {
    let released = false;
    return {
      client,
      release: (error?: unknown) => {
        if (released) return;
        released = true;
        if (error !== undefined) {
          client.release(error instanceof Error ? error : true);
          return;
        }
        this.park(client);
      },
    };
  }

  /** The health check is due: the connection sat unused longer than `healthCheckIdleMs` (`parked`: it came from the parked ones). */
  private needsCheck(client: PoolClient, parked: boolean): boolean {
    const checkAfter = this.spec.settings.healthCheckIdleMs;
    if (checkAfter <= 0 || (parked && this.parkedFresh)) return false;
    const idleSince = this.lastReleased.get(client);
    return idleSince !== undefined && Date.now() - idleSince > checkAfter;
  }

  /** Keeps a released connection for the next lease; pg-pool gets it at once when a caller waits in its queue. */
  private park(client: PoolClient): void {
    const pool = this.pool as unknown as PgPoolInternals;
    if (this.ended || pool.ending || pool._pendingQueue?.length !== 0) {
      this.lastReleased.set(client, Date.now());
      client.release();
      return;
    }
    if (!this.parkedFresh) this.lastReleased.set(client, Date.now());
    this.parked.push(client);
    if (this.sweep === undefined) {
      this.sweep = setTimeout(() => this.sweepParked(), PARKED_SWEEP_MS);
      this.sweep.unref();
    }
  }

  /**
   * The newest parked connection that can still serve; broken or expired ones go back to
   * pg-pool, which removes them (it checks `_queryable`, `_ending` and its lifetime set on release).
   */
  private unpark(): PoolClient | undefined {
    const expired = (this.pool as unknown as PgPoolInternals)._expired;
    for (;;) {
      const client = this.parked.pop();
      if (this.parked.length < this.parkedLow) this.parkedLow = this.parked.length;
      if (client === undefined) return undefined;
      const state = client as unknown as { _queryable?: boolean; _ending?: boolean };
      if (state._queryable !== false && state._ending !== true && expired?.has(client) !== true) return client;
      client.release();
    }
  }

  /** Hands the connections no lease took since the last sweep (the oldest parked) back to pg-pool. */
  private sweepParked(): void {
    this.sweep = undefined;
    // Under a long health-check threshold they carry no release time: idle since about now
    // (a sweep or two after their last release), and pg-pool keeps them from here.
    const stamp = this.parkedFresh ? Date.now() : undefined;
    for (const client of this.parked.splice(0, this.parkedLow)) {
      if (stamp !== undefined) this.lastReleased.set(client, stamp);
      client.release();
    }
    this.parkedLow = this.parked.length;
    if (this.parked.length > 0) {
      this.sweep = setTimeout(() => this.sweepParked(), PARKED_SWEEP_MS);
      this.sweep.unref();
    }
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
