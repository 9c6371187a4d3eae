import {
  BreakerState,
  Channel,
  ErrorCode,
  ConnectionState,
  EventType,
  PatchbayError,
  breakerChangedData,
  createEnvelope,
  type Bus,
  type ConnectionStateData,
  type Envelope,
  type ResolvedConnector,
} from '@patchbay/core';
import type { Logger } from 'pino';
import type { BrokerSettings } from '../config/broker-settings';
import type { MetricsRef } from '../metrics/broker-metrics';
import { ConnectorPool, type PoolObserver, type PoolStatus } from './connector-pool';
import { poolSpecOf } from './pool-target';

/** The source of connector updates (the kit's ConnectorWatcher, or a fake in tests). */
export interface ConnectorSource {
  on(event: 'upsert', listener: (connector: ResolvedConnector) => void): unknown;
  on(event: 'delete', listener: (configId: string) => void): unknown;
  all(): ResolvedConnector[];
  /** Throws "not known yet" (503) before the first load from the registry (ConnectorWatcher). */
  assertSynced?(what: string): void;
}

export interface PoolManagerOptions {
  settings: BrokerSettings;
  bus: Bus;
  logger: Logger;
  source: { service: string; instance: string };
  metrics: MetricsRef;
}

const KIND = 'database-pool';
/** Retry-After of a misconfigured connector's 503: a fix arrives by the bus within seconds. */
const MISCONFIGURED_RETRY_AFTER_SECONDS = 5;

/**
 * One {@link ConnectorPool} per `database` connector the registry knows. Applies
 * upserts (create or hot swap) and deletes (drain and close), and publishes every
 * connection-state and breaker change on the bus.
 */
export class PoolManager {
  private readonly pools = new Map<string, ConnectorPool>();
  /** Connectors whose definition cannot be used (bad url or options), with the reason. */
  private readonly invalid = new Map<string, { revision: number; message: string; at: Date }>();
  private closing = false;
  private source: ConnectorSource | undefined;

  constructor(private readonly options: PoolManagerOptions) {}

  /** Starts following `source`; connectors already known are applied at once. */
  follow(source: ConnectorSource): void {
    this.source = source;
    source.on('upsert', (connector) => this.upsert(connector));
    source.on('delete', (configId) => void this.remove(configId));
    for (const connector of source.all()) this.upsert(connector);
  }

  /** @throws PatchbayError NOT_FOUND for an unknown connector (UPSTREAM_UNAVAILABLE before the registry was read), UNAVAILABLE for an unusable one. */
  get(configId: string): ConnectorPool {
    const pool = this.pools.get(configId);
    if (pool) return pool;
    const invalid = this.invalid.get(configId);
    if (invalid) {
      throw new PatchbayError(ErrorCode.UNAVAILABLE, `database connector '${configId}' is misconfigured: ${invalid.message}`, {
        details: { configId },
        retryAfterSeconds: MISCONFIGURED_RETRY_AFTER_SECONDS,
      });
    }
    this.source?.assertSynced?.(`database connector '${configId}'`);
    throw PatchbayError.notFound(`database connector '${configId}'`, { details: { configId } });
  }

  has(configId: string): boolean {
    return this.pools.has(configId) || this.invalid.has(configId);
  }

  statuses(): PoolStatus[] {
    const out = [...this.pools.values()].map((pool) => pool.status());
    for (const [configId, invalid] of this.invalid) {
      out.push({
        configId,
        state: ConnectionState.DEAD,
        breaker: BreakerState.CLOSED,
        pool: { total: 0, idle: 0, inUse: 0, waiting: 0, max: 0 },
        target: '',
        revision: invalid.revision,
        lastError: { message: invalid.message, at: invalid.at.toISOString() },
        previousError: null,
        drainingPools: 0,
        openSessions: 0,
        retryAt: null,
      });
    }
    return out.sort((a, b) => a.configId.localeCompare(b.configId));
  }

  upsert(connector: ResolvedConnector): void {
    if (this.closing || connector.type !== 'database') return;
    let spec;
    try {
      spec = poolSpecOf(connector, this.options.settings);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.options.logger.warn({ configId: connector.configId, revision: connector.revision, reason: message }, 'database connector unusable');
      this.invalid.set(connector.configId, { revision: connector.revision, message, at: new Date() });
      void this.closePool(connector.configId);
      return;
    }
    if (spec.optionIssues.length > 0) {
      this.options.logger.warn({ configId: connector.configId, revision: connector.revision, issues: spec.optionIssues }, 'database connector options out of bounds; their defaults apply');
    }
    this.invalid.delete(connector.configId);
    const existing = this.pools.get(connector.configId);
    if (existing) {
      existing.update(connector.revision, spec);
      return;
    }
    const pool = new ConnectorPool({
      configId: connector.configId,
      revision: connector.revision,
      spec,
      observer: this.observer(),
      reconnectMaxMs: this.options.settings.reconnectMaxMs,
      drainTimeoutMs: this.options.settings.drainTimeoutMs,
      instance: this.options.source.instance,
    });
    this.pools.set(connector.configId, pool);
    this.options.logger.info({ configId: connector.configId, revision: connector.revision, target: spec.display, max: spec.settings.max }, 'database pool created');
    pool.start();
  }

  async remove(configId: string): Promise<void> {
    this.invalid.delete(configId);
    await this.closePool(configId);
  }

  /** Shutdown: every pool drains (bounded) and closes. */
  async close(drainTimeoutMs: number): Promise<void> {
    this.closing = true;
    await Promise.all([...this.pools.values()].map((pool) => pool.close(drainTimeoutMs)));
    this.pools.clear();
  }

  private async closePool(configId: string): Promise<void> {
    const pool = this.pools.get(configId);
    if (!pool) return;
    this.pools.delete(configId);
    this.options.logger.info({ configId }, 'database connector removed; draining its pool');
    await pool.close();
  }

  private publish(envelope: Envelope): void {
    this.options.bus.publish(Channel.STATE, envelope).catch((error: unknown) => {
      this.options.logger.warn({ err: error, type: envelope.type }, 'state event not published');
    });
  }

  private observer(): PoolObserver {
    const { logger, source } = this.options;
    return {
      stateChanged: (pool, change) => {
        const data: ConnectionStateData = { kind: KIND, name: pool.configId, from: change.from, to: change.to };
        if (change.reason !== undefined) data.reason = change.reason;
        logger.info({ configId: pool.configId, from: change.from, to: change.to, reason: change.reason }, 'database pool state');
        this.publish(createEnvelope(EventType.CONNECTION_STATE, data, { source, revision: pool.revision }));
      },
      breakerChanged: (pool, change) => {
        logger.warn({ configId: pool.configId, from: change.from, to: change.to, retryAt: change.retryAt }, 'database breaker');
        this.publish(createEnvelope(EventType.BREAKER_CHANGED, breakerChangedData(pool.breaker, change), { source, revision: pool.revision }));
      },
      swapped: (pool, reason) => {
        logger.info({ configId: pool.configId, reason, target: pool.spec.display }, 'database pool swapped; old pool draining');
        this.options.metrics.current?.swaps.add(1, { connector: pool.configId, reason: reason === 'reconnected' ? 'reconnect' : 'connector_changed' });
      },
      drained: (pool, display, timedOut) => {
        logger.info({ configId: pool.configId, target: display, timedOut }, 'old database pool drained and closed');
      },
      reconnectAttempt: (pool, ok, error) => {
        this.options.metrics.current?.reconnects.add(1, { connector: pool.configId, outcome: ok ? 'success' : 'failure' });
        if (ok) logger.info({ configId: pool.configId }, 'database reachable again');
        else logger.debug({ configId: pool.configId, reason: error instanceof Error ? error.message : String(error) }, 'reconnect failed');
      },
      acquired: (pool, seconds) => this.options.metrics.current?.acquireDuration.labels(pool.configId).record(seconds),
      idleError: (pool, error) => logger.warn({ configId: pool.configId, reason: error.message }, 'idle database connection failed'),
    };
  }
}
