import { EventEmitter } from 'node:events';
import {
  BreakerState,
  Channel,
  ConnectionState,
  ErrorCode,
  EventType,
  PatchbayError,
  breakerChangedData,
  createEnvelope,
  readConnectorOptions,
  type BreakerStateChange,
  type Bus,
  type ConnectionStateData,
  type Envelope,
  type EnvelopeSource,
  type ResolvedConnector,
  type StateChange,
} from '@patchbay/core';
import type { Logger } from 'pino';
import { FleetReporter, type FleetSnapshot } from './fleet-reporter';
import { mayUseConnector, type Principal } from '../auth/scopes';
import type { ReadinessService } from '../health/readiness.service';
import type { MetricsService } from '../metrics/metrics.service';
import { BrokerMetrics, type BrokerMetricNames } from './broker-metrics';
import type { BrokerDriver, CloseReason, PlannedConnection } from './driver';
import { errorMessage, type ConnectionStatus } from './connection-status';
import { ManagedConnection, type ConnectionObserver } from './managed-connection';

/** Where connectors come from: the kit's ConnectorWatcher, or a fake in tests. */
export interface ConnectorSource {
  on(event: 'upsert', listener: (connector: ResolvedConnector) => void): unknown;
  on(event: 'delete', listener: (configId: string) => void): unknown;
  all(): ResolvedConnector[];
  /** Throws 503 "not known yet" before the first load from the registry. */
  assertSynced(what: string): void;
  readonly synced: boolean;
  /** The registry revision caught up to. */
  readonly revision: number;
}

export interface BrokerOptions<Spec, Handle> {
  driver: BrokerDriver<Spec, Handle>;
  bus: Bus;
  logger: Logger;
  /** The service and instance named as the source of bus events. */
  source: EnvelopeSource;
  /** What a connector is called in errors and logs, e.g. `database`. Default `connector`. */
  noun?: string;
  /** Fleet report heartbeat (default `PATCHBAY_FLEET_REPORT_INTERVAL_MS`, else 10 000 ms). */
  reportIntervalMs?: number;
}

/** Events the broker emits for the app (logs, domain bookkeeping). */
export interface BrokerEvents<Spec, Handle> {
  state: [connection: ManagedConnection<Spec, Handle>, change: StateChange];
  breaker: [connection: ManagedConnection<Spec, Handle>, change: BreakerStateChange];
  swapped: [connection: ManagedConnection<Spec, Handle>, reason: 'changed' | 'reconnected'];
  drained: [connection: ManagedConnection<Spec, Handle>, target: string, timedOut: boolean];
  reconnect: [connection: ManagedConnection<Spec, Handle>, ok: boolean];
  added: [connection: ManagedConnection<Spec, Handle>];
  removed: [connection: ManagedConnection<Spec, Handle>];
}

interface Misconfigured {
  configId: string;
  revision: number;
  message: string;
  at: Date;
}

/** Retry-After of a misconfigured connector's 503: a fix arrives by the bus within seconds. */
const MISCONFIGURED_RETRY_AFTER_SECONDS = 5;

/**
 * The managed connections of one broker, one per planned id of every connector of the
 * driver's types: follows the registry (upsert: add, update or swap; delete: drain and
 * close), keeps misconfigured connectors with their reason, checks the token's connector
 * allow-list, publishes `connection.state.v1` and `breaker.changed.v1` on the bus, and
 * feeds metrics, readiness and status listings.
 */
export class Broker<Spec, Handle> extends EventEmitter<BrokerEvents<Spec, Handle>> {
  readonly driver: BrokerDriver<Spec, Handle>;
  private readonly connections = new Map<string, ManagedConnection<Spec, Handle>>();
  /** The ids each connector planned, in plan order. */
  private readonly planned = new Map<string, string[]>();
  private readonly misconfigured = new Map<string, Misconfigured>();
  private readonly observer: ConnectionObserver<Spec, Handle>;
  private readonly noun: string;
  private source: ConnectorSource | undefined;
  private metrics: BrokerMetrics | undefined;
  private closing = false;
  private readonly reporter: FleetReporter;

  constructor(private readonly options: BrokerOptions<Spec, Handle>) {
    super();
    this.driver = options.driver;
    this.noun = options.noun ?? 'connector';
    this.observer = this.createObserver();
    // The registry's fleet view: this instance, the revision it applied, each connection.
    this.reporter = new FleetReporter(options.bus, options.source, () => this.fleetSnapshot(), options.logger, options.reportIntervalMs);
    this.reporter.start();
    for (const event of ['state', 'breaker', 'added', 'removed', 'swapped'] as const) this.on(event, () => this.reporter.changed());
  }

  private fleetSnapshot(): FleetSnapshot {
    const statuses = this.statuses();
    const revision = this.source?.revision ?? Math.max(0, ...statuses.map((s) => s.revision));
    return {
      revision,
      connections: statuses.map(({ id, configId, kind, state, breaker, revision: r }) => ({ id, configId, kind, state, breaker, revision: r })),
    };
  }

  /** Starts following `source` (never waits for it); connectors already known are applied at once. */
  follow(source: ConnectorSource): void {
    this.source = source;
    source.on('upsert', (connector) => this.apply(connector));
    source.on('delete', (configId) => void this.remove(configId));
    for (const connector of source.all()) this.apply(connector);
  }

  /** Applies one connector definition: adds, updates (swapping when its spec changed) or removes its connections. */
  apply(connector: ResolvedConnector): void {
    if (this.closing || !this.driver.types.includes(connector.type)) return;
    const { configId, revision } = connector;
    let plans: PlannedConnection<Spec>[];
    try {
      const { options, issues } = readConnectorOptions(connector.type, connector.options);
      if (issues.length > 0) {
        this.options.logger.warn({ configId, revision, issues }, `${this.noun} connector options out of bounds; their defaults apply`);
      }
      plans = this.driver.plan(connector, options);
      for (const plan of plans) this.driver.settings(plan.spec);
    } catch (error) {
      const message = errorMessage(error);
      this.options.logger.warn({ configId, revision, reason: message }, `${this.noun} connector unusable`);
      this.misconfigured.set(configId, { configId, revision, message, at: new Date() });
      void this.closeAll(configId, 'removed');
      return;
    }
    this.misconfigured.delete(configId);
    const wanted = new Set(plans.map((plan) => plan.id));
    for (const id of this.planned.get(configId) ?? []) {
      if (!wanted.has(id)) void this.closeOne(id, 'removed');
    }
    this.planned.set(
      configId,
      plans.map((plan) => plan.id),
    );
    for (const plan of plans) {
      const existing = this.connections.get(plan.id);
      if (existing) {
        existing.update(revision, plan.spec);
        continue;
      }
      const connection = new ManagedConnection<Spec, Handle>({
        id: plan.id,
        configId,
        revision,
        spec: plan.spec,
        driver: this.driver,
        observer: this.observer,
        noun: this.noun,
      });
      this.connections.set(plan.id, connection);
      this.options.logger.info({ id: plan.id, configId, revision, target: this.driver.describe(plan.spec) }, `${this.noun} connection added`);
      this.emit('added', connection);
      connection.start();
    }
  }

  /** The connector was deleted: its connections drain and close. */
  async remove(configId: string): Promise<void> {
    this.misconfigured.delete(configId);
    await this.closeAll(configId, 'removed');
  }

  /**
   * The connection with this id.
   * @throws PatchbayError UNAVAILABLE (503, Retry-After) for a misconfigured connector;
   *   UPSTREAM_UNAVAILABLE before the first registry sync; NOT_FOUND otherwise.
   */
  connection(id: string): ManagedConnection<Spec, Handle> {
    const connection = this.connections.get(id);
    if (connection) return connection;
    const misconfigured = this.misconfigured.get(id);
    if (misconfigured) {
      throw new PatchbayError(ErrorCode.UNAVAILABLE, `${this.noun} connector '${id}' is misconfigured: ${misconfigured.message}`, {
        details: { configId: id },
        retryAfterSeconds: MISCONFIGURED_RETRY_AFTER_SECONDS,
      });
    }
    this.source?.assertSynced(`${this.noun} connector '${id}'`);
    throw PatchbayError.notFound(`${this.noun} connector '${id}'`, { details: { configId: id } });
  }

  /**
   * The connection of `configId` for a caller, after the token's connector allow-list.
   * @throws PatchbayError FORBIDDEN when the allow-list excludes it; else as {@link connection}.
   */
  connectionFor(principal: Principal, configId: string): ManagedConnection<Spec, Handle> {
    assertMayUse(principal, configId);
    return this.connection(configId);
  }

  /** The connections a connector planned (several for an array connector), in plan order. */
  connectionsOf(configId: string): ManagedConnection<Spec, Handle>[] {
    return (this.planned.get(configId) ?? []).flatMap((id) => {
      const connection = this.connections.get(id);
      return connection ? [connection] : [];
    });
  }

  list(): ManagedConnection<Spec, Handle>[] {
    return [...this.connections.values()];
  }

  /** Every connection's status, misconfigured connectors included (`dead`), sorted by id; filtered by the caller's allow-list. */
  statuses(principal?: Principal): ConnectionStatus[] {
    const out = [...this.connections.values()].map((connection) => connection.status());
    for (const misconfigured of this.misconfigured.values()) out.push(this.misconfiguredStatus(misconfigured));
    const visible = principal ? out.filter((status) => mayUseConnector(principal, status.configId)) : out;
    return visible.sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * One connection's status (by id) for a caller.
   * @throws PatchbayError FORBIDDEN outside the allow-list; NOT_FOUND when unknown (503 before the first sync).
   */
  status(id: string, principal?: Principal): ConnectionStatus {
    const connection = this.connections.get(id);
    const status = connection?.status() ?? (this.misconfigured.has(id) ? this.statuses().find((s) => s.id === id) : undefined);
    if (principal) assertMayUse(principal, status?.configId ?? id);
    if (status) return status;
    this.source?.assertSynced(`${this.noun} connector '${id}'`);
    throw PatchbayError.notFound(`${this.noun} connector '${id}'`, { details: { configId: id } });
  }

  /**
   * Exports the uniform connection metrics on the service's meter: state and breaker
   * gauges, swaps and reconnect attempts, labelled `connector` and `kind`.
   */
  attachMetrics(metrics: MetricsService, names: BrokerMetricNames): void {
    this.metrics ??= new BrokerMetrics(metrics, names, () => this.statuses());
  }

  /**
   * Registers a summary check named `summaryName` (not required: one target being down
   * leaves the others served). Whether connectors are loaded at all is the `registry`
   * check that `kit.watch(types)` registers: one check per fact, not two replacing each other.
   */
  registerReadiness(readiness: ReadinessService, summaryName: string): void {
    readiness.register(
      summaryName,
      async () => {
        const statuses = this.statuses();
        return {
          active: statuses.filter((s) => s.state === ConnectionState.ACTIVE).length,
          total: statuses.length,
          down: statuses.filter((s) => s.state === ConnectionState.RETRYING || s.state === ConnectionState.DEAD).map((s) => s.id),
        };
      },
      { required: false },
    );
  }

  /** Shutdown: no connector is applied any more; every connection drains (bounded) and closes. */
  async close(drainTimeoutMs: number): Promise<void> {
    this.closing = true;
    await this.reporter.stop();
    const all = [...this.connections.values()];
    this.connections.clear();
    this.planned.clear();
    await Promise.all(all.map((connection) => connection.close('shutdown', drainTimeoutMs)));
  }

  private misconfiguredStatus(misconfigured: Misconfigured): ConnectionStatus {
    return {
      id: misconfigured.configId,
      configId: misconfigured.configId,
      kind: this.driver.kind,
      state: ConnectionState.DEAD,
      breaker: BreakerState.CLOSED,
      revision: misconfigured.revision,
      target: '',
      lastError: { message: misconfigured.message, at: misconfigured.at.toISOString() },
      previousError: null,
      retryAt: null,
    };
  }

  private async closeAll(configId: string, reason: CloseReason): Promise<void> {
    const ids = this.planned.get(configId) ?? [];
    this.planned.delete(configId);
    await Promise.all(ids.map((id) => this.closeOne(id, reason)));
  }

  private async closeOne(id: string, reason: CloseReason): Promise<void> {
    const connection = this.connections.get(id);
    if (!connection) return;
    this.connections.delete(id);
    this.options.logger.info({ id, configId: connection.configId }, `${this.noun} connection removed; draining`);
    this.emit('removed', connection);
    await connection.close(reason);
  }

  private publish(envelope: Envelope): void {
    this.options.bus.publish(Channel.STATE, envelope).catch((error: unknown) => {
      this.options.logger.warn({ err: error, type: envelope.type }, 'state event not published');
    });
  }

  private createObserver(): ConnectionObserver<Spec, Handle> {
    const { logger, source } = this.options;
    return {
      state: (connection, change) => {
        const data: ConnectionStateData = { kind: connection.kind, name: connection.id, from: change.from, to: change.to };
        if (change.reason !== undefined) data.reason = change.reason;
        logger.info({ id: connection.id, from: change.from, to: change.to, reason: change.reason }, `${this.noun} connection state`);
        this.publish(createEnvelope(EventType.CONNECTION_STATE, data, { source, revision: connection.revision }));
        this.emit('state', connection, change);
      },
      breaker: (connection, change) => {
        logger.warn({ id: connection.id, from: change.from, to: change.to, retryAt: change.retryAt }, `${this.noun} breaker`);
        this.publish(createEnvelope(EventType.BREAKER_CHANGED, breakerChangedData(connection.breaker, change), { source, revision: connection.revision }));
        this.emit('breaker', connection, change);
      },
      swapped: (connection, reason) => {
        logger.info({ id: connection.id, reason, target: this.driver.describe(connection.spec) }, `${this.noun} connection swapped; old handle draining`);
        this.metrics?.swapped(connection, reason);
        this.emit('swapped', connection, reason);
      },
      drained: (connection, target, timedOut) => this.emit('drained', connection, target, timedOut),
      reconnect: (connection, ok, error) => {
        this.metrics?.reconnected(connection, ok);
        if (ok) logger.info({ id: connection.id }, `${this.noun} reachable again`);
        else logger.debug({ id: connection.id, reason: errorMessage(error) }, 'reconnect failed');
        this.emit('reconnect', connection, ok);
      },
    };
  }
}

/** @throws PatchbayError FORBIDDEN when the token's connector allow-list excludes `configId`. */
export function assertMayUse(principal: Principal, configId: string): void {
  if (!mayUseConnector(principal, configId)) {
    throw new PatchbayError(ErrorCode.FORBIDDEN, `token '${principal.name}' may not use connector '${configId}'`);
  }
}
