import type { ConnectorType, ResolvedConnector } from '@patchbay/core';
import type { Broker, BrokerDriver, ConnectionSettings, ErrorClass, ManagedConnection, OpenContext, PlannedConnection } from '@patchbay/nest';
import type { BrokerSettings } from '../config/broker-settings';
import { isConnectionError } from '../errors/pg-errors';
import { runQuery } from '../query/run-query';
import { PoolGeneration, type PoolFigures } from './pool-generation';
import { poolSpecOf, type PoolSpec } from './pool-target';

export type DatabaseConnection = ManagedConnection<PoolSpec, PoolGeneration>;
export type DatabaseBroker = Broker<PoolSpec, PoolGeneration>;

/** What the driver reads from and reports to the rest of the broker. */
export interface DatabaseDriverHooks {
  /** Sessions pinned to a connection of this connector now. */
  openSessions(configId: string): number;
  /** Wire-front clients of this connector now (status route). */
  wireClients?(configId: string): Record<string, number>;
  /** Time a caller waited for a pooled connection, in seconds. */
  acquired(configId: string, seconds: number): void;
  /** An idle pooled connection failed (server restart, terminated backend); pg replaces it. */
  idleError(configId: string, error: Error): void;
}

/** Errors the breaker counts although they are no lost connection (statement timeouts under the connector's own limit). */
const countedFailures = new WeakSet<object>();

/** Marks `error` as one the breaker counts (see {@link DatabaseDriver.classify}). */
export function countAsFailure(error: unknown): void {
  if (typeof error === 'object' && error !== null) countedFailures.add(error);
}

/**
 * A `database` connector as the kit's broker runtime sees it: the spec is the pool spec
 * (target, credentials, sizing), the handle one `pg.Pool` generation.
 */
export class DatabaseDriver implements BrokerDriver<PoolSpec, PoolGeneration> {
  readonly types: readonly ConnectorType[] = ['database'];
  readonly kind = 'database-pool';
  /** Every pool not ended yet (current, draining, being probed), for the pool gauges. */
  private readonly live = new Set<PoolGeneration>();

  constructor(
    private readonly defaults: BrokerSettings,
    private readonly hooks: DatabaseDriverHooks,
  ) {}

  plan(connector: ResolvedConnector): PlannedConnection<PoolSpec>[] {
    return [{ id: connector.configId, spec: poolSpecOf(connector, this.defaults) }];
  }

  fingerprint(spec: PoolSpec): string {
    return spec.fingerprint;
  }

  settings(spec: PoolSpec): ConnectionSettings {
    return {
      breakerFailures: spec.settings.breakerFailures,
      breakerRecoveryMs: spec.settings.breakerRecoveryMs,
      reconnectMaxMs: this.defaults.reconnectMaxMs,
      drainTimeoutMs: this.defaults.drainTimeoutMs,
    };
  }

  async open(spec: PoolSpec, context: OpenContext): Promise<PoolGeneration> {
    // Building a pool connects nothing: the probe does.
    const generation = new PoolGeneration(spec, context.id, `patchbay-db-broker:${context.id}`, {
      onIdleError: (error) => {
        this.hooks.idleError(context.id, error);
        context.incident(error);
      },
      onAcquired: (seconds) => this.hooks.acquired(context.id, seconds),
    });
    this.live.add(generation);
    return generation;
  }

  /** `SELECT 1` on the pool, with `min` connections opened (warm) at the same time. */
  async probe(generation: PoolGeneration, spec: PoolSpec): Promise<void> {
    const leases = await Promise.all(Array.from({ length: Math.max(1, spec.settings.min) }, () => generation.acquire()));
    try {
      if (leases[0]) await runQuery(leases[0].client, 'SELECT 1', undefined, spec.settings.acquireTimeoutMs);
    } catch (error) {
      for (const lease of leases) lease.release(error);
      throw error;
    }
    for (const lease of leases) lease.release();
  }

  async close(generation: PoolGeneration): Promise<void> {
    this.live.delete(generation);
    await generation.end();
  }

  /** Connections of every live pool, summed per connector (`max` of its newest pool). */
  figuresByConnector(): Map<string, PoolFigures> {
    const out = new Map<string, PoolFigures>();
    for (const generation of this.live) {
      const f = generation.figures();
      const sum = out.get(generation.id);
      if (!sum) out.set(generation.id, f);
      else
        out.set(generation.id, {
          total: sum.total + f.total,
          idle: sum.idle + f.idle,
          inUse: sum.inUse + f.inUse,
          waiting: sum.waiting + f.waiting,
          max: f.max,
        });
    }
    return out;
  }

  /**
   * A lost or refused connection is `connection`; a statement timeout the caller did not
   * shorten is `failure` (the database is too slow for its own limit); everything else
   * (bad SQL, constraint violations, a full pool) is the caller's.
   */
  classify(error: unknown): ErrorClass {
    if (isConnectionError(error)) return 'connection';
    if (typeof error === 'object' && error !== null && countedFailures.has(error)) return 'failure';
    return 'caller';
  }

  describe(spec: PoolSpec): string {
    return spec.display;
  }

  details(generation: PoolGeneration | undefined, spec: PoolSpec, draining: readonly PoolGeneration[]): Record<string, unknown> {
    const pool: PoolFigures = generation?.figures() ?? { total: 0, idle: 0, inUse: 0, waiting: 0, max: spec.settings.max };
    for (const old of draining) {
      const f = old.figures();
      pool.total += f.total;
      pool.idle += f.idle;
      pool.inUse += f.inUse;
      pool.waiting += f.waiting;
    }
    const id = (generation ?? draining[0])?.id;
    return {
      pool,
      openSessions: id === undefined ? 0 : this.hooks.openSessions(id),
      wire: (id === undefined ? undefined : this.hooks.wireClients?.(id)) ?? { clients: 0, waiting: 0, serverConnections: 0 },
      drainingPools: draining.length,
    };
  }
}
