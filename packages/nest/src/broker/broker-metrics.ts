import { BreakerState, ConnectionState } from '@patchbay/core';
import type { MetricsService } from '../metrics/metrics.service';
import type { ConnectionStatus } from './connection-status';

/** Names of a broker's connection metrics; by default `<prefix>_connection_state` and so on. */
export interface BrokerMetricNames {
  /** e.g. `db`, `llm`, `mcp`. */
  prefix: string;
  /** Default `<prefix>_connection_state`. */
  state?: string;
  /** Default `<prefix>_breaker_state`. */
  breaker?: string;
  /** Default `<prefix>_connection_swaps`. */
  swaps?: string;
  /** Default `<prefix>_reconnect_attempts`. */
  reconnects?: string;
}

type Counter = ReturnType<MetricsService['meter']['createCounter']>;

const CONNECTION_STATES = Object.values(ConnectionState);
const BREAKER_STATES = Object.values(BreakerState);

/**
 * The connection metrics every broker exports, labelled `connector` (the connection id)
 * and `kind` (the driver's): one gauge per state and breaker state (1 for the current
 * one, read at scrape time), and counters of swaps (by reason) and reconnect attempts
 * (by outcome).
 */
export class BrokerMetrics {
  private readonly swaps: Counter;
  private readonly reconnects: Counter;

  constructor(metrics: MetricsService, names: BrokerMetricNames, statuses: () => ConnectionStatus[]) {
    const meter = metrics.meter;
    const { prefix } = names;
    this.swaps = meter.createCounter(names.swaps ?? `${prefix}_connection_swaps`, { description: 'Handles replaced (connector change or reconnect)' });
    this.reconnects = meter.createCounter(names.reconnects ?? `${prefix}_reconnect_attempts`, {
      description: 'Reconnect attempts while a connection was down, by outcome',
    });
    const states = meter.createObservableGauge(names.state ?? `${prefix}_connection_state`, {
      description: '1 for the current ConnectionState of each connection',
    });
    const breakers = meter.createObservableGauge(names.breaker ?? `${prefix}_breaker_state`, {
      description: '1 for the current breaker state of each connection',
    });
    meter.addBatchObservableCallback(
      (observer) => {
        for (const status of statuses()) {
          const labels = { connector: status.id, kind: status.kind };
          for (const state of CONNECTION_STATES) observer.observe(states, state === status.state ? 1 : 0, { ...labels, state });
          for (const state of BREAKER_STATES) observer.observe(breakers, state === status.breaker ? 1 : 0, { ...labels, state });
        }
      },
      [states, breakers],
    );
  }

  swapped(connection: { id: string; kind: string }, reason: 'changed' | 'reconnected'): void {
    this.swaps.add(1, { connector: connection.id, kind: connection.kind, reason: reason === 'reconnected' ? 'reconnect' : 'connector_changed' });
  }

  reconnected(connection: { id: string; kind: string }, ok: boolean): void {
    this.reconnects.add(1, { connector: connection.id, kind: connection.kind, outcome: ok ? 'success' : 'failure' });
  }
}
