import type { Counter } from '@opentelemetry/api';
import { BreakerState, ConnectionState } from '@patchbay/core';
import { LATENCY_BUCKETS_SECONDS, type LabeledHistogram, type MetricsService } from '@patchbay/nest';
import type { PoolStatus } from '../pools/connector-pool';

/** Filled once the app (and its meter) exists; services built earlier read it late. */
export interface MetricsRef {
  current: BrokerMetrics | undefined;
}

/** The db-broker's own instruments, on the kit's meter (exported at `/metrics`). */
export class BrokerMetrics {
  readonly acquireDuration: LabeledHistogram<'connector'>;
  readonly queryDuration: LabeledHistogram<'connector' | 'kind' | 'outcome'>;
  readonly queryErrors: Counter;
  readonly swaps: Counter;
  readonly reconnects: Counter;
  readonly sessions: Counter;

  constructor(metrics: MetricsService, statuses: () => PoolStatus[]) {
    const meter = metrics.meter;
    this.acquireDuration = metrics.histogram('db_pool_acquire_duration', {
      description: 'Time waiting for a pooled connection',
      unit: 's',
      buckets: LATENCY_BUCKETS_SECONDS,
      labels: ['connector'],
    });
    this.queryDuration = metrics.histogram('db_query_duration', {
      description: 'Duration of queries, batches and session statements',
      unit: 's',
      buckets: LATENCY_BUCKETS_SECONDS,
      labels: ['connector', 'kind', 'outcome'],
    });
    this.queryErrors = meter.createCounter('db_query_errors', { description: 'Failed queries by SQLSTATE class (or broker code)' });
    this.swaps = meter.createCounter('db_pool_swaps', { description: 'Pool generations replaced (connector change or reconnect)' });
    this.reconnects = meter.createCounter('db_reconnect_attempts', { description: 'Reconnect probes while a database was down, by outcome' });
    this.sessions = meter.createCounter('db_sessions', { description: 'Sessions opened and ended, by outcome' });

    const pools = meter.createObservableGauge('db_pool_connections', { description: 'Pool connections by kind (total, idle, in_use, waiting, max)' });
    const states = meter.createObservableGauge('db_connection_state', { description: '1 for the current ConnectionState of each connector pool' });
    const breakers = meter.createObservableGauge('db_breaker_state', { description: '1 for the current breaker state of each connector pool' });
    const openSessions = meter.createObservableGauge('db_sessions_open', { description: 'Open interactive sessions per connector' });
    meter.addBatchObservableCallback(
      (observer) => {
        for (const status of statuses()) {
          const connector = status.configId;
          const { total, idle, inUse, waiting, max } = status.pool;
          const observe = (result: typeof pools, value: number, attributes: Record<string, string>): void =>
            observer.observe(result, value, { connector, ...attributes });
          observe(pools, total, { kind: 'total' });
          observe(pools, idle, { kind: 'idle' });
          observe(pools, inUse, { kind: 'in_use' });
          observe(pools, waiting, { kind: 'waiting' });
          observe(pools, max, { kind: 'max' });
          for (const state of Object.values(ConnectionState)) observe(states, state === status.state ? 1 : 0, { state });
          for (const state of Object.values(BreakerState)) observe(breakers, state === status.breaker ? 1 : 0, { state });
          observe(openSessions, status.openSessions, {});
        }
      },
      [pools, states, breakers, openSessions],
    );
  }

  /** The label of a failed query: SQLSTATE class for server errors, else the broker code. */
  static errorClass(error: unknown): string {
    const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code.slice(0, 2);
    return typeof code === 'string' ? code : 'unknown';
  }
}

