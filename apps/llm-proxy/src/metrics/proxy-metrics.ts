import { BreakerState } from '@patchbay/core';
import { LATENCY_BUCKETS_SECONDS, type LabeledHistogram, type MetricsService } from '@patchbay/nest';
import type { Usage } from '../proxy/usage';
import type { UpstreamSet } from '../upstreams/upstream-set';

// Instrument types taken from the kit's meter, so the app needs no direct OpenTelemetry dependency.
type Meter = MetricsService['meter'];
type Counter = ReturnType<Meter['createCounter']>;

const BREAKER_STATES = Object.values(BreakerState);

/** Monotonic sums by label values, exported through an observable counter. */
class Tally {
  private readonly sums = new Map<string, { labels: string[]; value: number }>();
  constructor(private readonly names: readonly string[]) {}

  add(value: number, ...labels: string[]): void {
    const key = labels.join('\u0000');
    const entry = this.sums.get(key);
    if (entry) entry.value += value;
    else this.sums.set(key, { labels, value });
  }

  observe(result: { observe(value: number, attributes: Record<string, string>): void }): void {
    for (const { labels, value } of this.sums.values()) {
      const attributes: Record<string, string> = {};
      this.names.forEach((name, i) => (attributes[name] = labels[i] ?? ''));
      result.observe(value, attributes);
    }
  }
}

/** The llm-proxy's own instruments (Prometheus names follow the OpenTelemetry ones). */
export class ProxyMetrics {
  /** Per-request counters are summed here and read at scrape time: no attribute hashing per request. */
  private readonly requestCounts = new Tally(['route', 'connector', 'model', 'status']);
  private readonly tokenCounts = new Tally(['key', 'model', 'connector', 'kind', 'api']);
  private readonly upstreamDuration: LabeledHistogram<'connector' | 'status'>;
  private readonly firstToken: LabeledHistogram<'connector' | 'model'>;
  private readonly overhead: LabeledHistogram<'route'>;
  private readonly retries: Counter;
  private readonly failovers: Counter;
  /** Read by an observable gauge at scrape time: nothing is recorded per request. */
  private readonly inFlight = new Map<string, number>();

  constructor(metrics: MetricsService, upstreams: UpstreamSet) {
    const meter = metrics.meter;
    const latency = { unit: 's', buckets: LATENCY_BUCKETS_SECONDS };
    meter
      .createObservableCounter('llm_proxy_requests', { description: 'Proxied requests by connector, model and status' })
      .addCallback((result) => this.requestCounts.observe(result));
    this.upstreamDuration = metrics.histogram('llm_proxy_upstream_duration', {
      description: 'Upstream attempt duration until its answer was complete',
      ...latency,
      labels: ['connector', 'status'],
    });
    this.firstToken = metrics.histogram('llm_proxy_time_to_first_token', {
      description: 'From request received to the first streamed byte sent',
      ...latency,
      labels: ['connector', 'model'],
    });
    this.overhead = metrics.histogram('llm_proxy_overhead', {
      description: 'Time the proxy added around the final upstream attempt',
      ...latency,
      labels: ['route'],
    });
    this.retries = meter.createCounter('llm_proxy_retries', { description: 'Attempts repeated on the same connector' });
    this.failovers = meter.createCounter('llm_proxy_failovers', { description: 'Requests moved from one connector to the next' });
    meter.createObservableGauge('llm_proxy_in_flight', { description: 'Requests being proxied now' }).addCallback((result) => {
      for (const [route, count] of this.inFlight) result.observe(count, { route });
    });
    meter
      .createObservableCounter('llm_proxy_tokens', { description: 'Tokens reported by upstreams, per key, model and connector' })
      .addCallback((result) => this.tokenCounts.observe(result));
    meter.createObservableGauge('llm_proxy_breaker_state', { description: '1 for the current breaker state of each connector' }).addCallback((result) => {
      for (const upstream of upstreams.list()) {
        const state = upstream.breaker.state;
        for (const s of BREAKER_STATES) result.observe(s === state ? 1 : 0, { connector: upstream.configId, state: s });
      }
    });
  }

  request(route: string, connector: string, model: string, status: number): void {
    this.requestCounts.add(1, route, connector, model, String(status));
  }
  upstream(connector: string, status: string, seconds: number): void {
    this.upstreamDuration.labels(connector, status).record(seconds);
  }
  timeToFirstToken(connector: string, model: string, seconds: number): void {
    this.firstToken.labels(connector, model).record(seconds);
  }
  addedOverhead(route: string, seconds: number): void {
    this.overhead.labels(route).record(seconds);
  }
  retry(connector: string, reason: string): void {
    this.retries.add(1, { connector, reason });
  }
  failover(from: string, reason: string): void {
    this.failovers.add(1, { from, reason });
  }
  started(route: string): void {
    this.inFlight.set(route, (this.inFlight.get(route) ?? 0) + 1);
  }
  finished(route: string): void {
    this.inFlight.set(route, (this.inFlight.get(route) ?? 1) - 1);
  }
  /** `api`: the API the client called (`chat`, `responses`, `messages`, ...). */
  usage(key: string, model: string, connector: string, usage: Usage, api: string): void {
    this.tokenCounts.add(usage.promptTokens, key, model, connector, 'prompt', api);
    this.tokenCounts.add(usage.completionTokens, key, model, connector, 'completion', api);
  }
}
