import { LATENCY_BUCKETS_SECONDS, type LabeledHistogram, type MetricsService } from '@patchbay/nest';
import type { PoolFigures } from '../pools/pool-generation';

// Taken from the kit's meter, so the app needs no direct OpenTelemetry dependency.
type Counter = ReturnType<MetricsService['meter']['createCounter']>;

/** What the pool gauges read at scrape time. */
export interface PoolGauges {
  figures(): Map<string, PoolFigures>;
  openSessions(configId: string): number;
}

/**
 * The db-broker's own instruments, on the kit's meter (exported at `/metrics`). Connection
 * state, breaker, swap and reconnect metrics are the broker runtime's (`db_connection_state`, ...).
 */
export class DbMetrics {
  readonly acquireDuration: LabeledHistogram<'connector'>;
  readonly queryDuration: LabeledHistogram<'connector' | 'kind' | 'outcome'>;
  readonly queryErrors: Counter;
  readonly sessions: Counter;

  constructor(metrics: MetricsService, gauges: PoolGauges) {
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
    this.sessions = meter.createCounter('db_sessions', { description: 'Sessions opened and ended, by outcome' });

    const pools = meter.createObservableGauge('db_pool_connections', { description: 'Pool connections by kind (total, idle, in_use, waiting, max)' });
    const openSessions = meter.createObservableGauge('db_sessions_open', { description: 'Open interactive sessions per connector' });
    meter.addBatchObservableCallback(
      (observer) => {
        for (const [connector, { total, idle, inUse, waiting, max }] of gauges.figures()) {
          observer.observe(pools, total, { connector, kind: 'total' });
          observer.observe(pools, idle, { connector, kind: 'idle' });
          observer.observe(pools, inUse, { connector, kind: 'in_use' });
          observer.observe(pools, waiting, { connector, kind: 'waiting' });
          observer.observe(pools, max, { connector, kind: 'max' });
          observer.observe(openSessions, gauges.openSessions(connector), { connector });
        }
      },
      [pools, openSessions],
    );
  }

  /** The label of a failed query: SQLSTATE class for server errors, else the broker code. */
  static errorClass(error: unknown): string {
    const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code.slice(0, 2);
    return typeof code === 'string' ? code : 'unknown';
  }
}
