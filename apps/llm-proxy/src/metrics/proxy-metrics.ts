import { BreakerState } from '@patchbay/core';
import { LATENCY_BUCKETS_SECONDS, type MetricsService } from '@patchbay/nest';
import type { Usage } from '../proxy/usage';
import type { UpstreamSet } from '../upstreams/upstream-set';

// Instrument types taken from the kit's meter, so the app needs no direct OpenTelemetry dependency.
type Meter = MetricsService['meter'];
type Counter = ReturnType<Meter['createCounter']>;
type Histogram = ReturnType<Meter['createHistogram']>;
type UpDownCounter = ReturnType<Meter['createUpDownCounter']>;

const BREAKER_STATES = Object.values(BreakerState);

/** The llm-proxy's own instruments (Prometheus names follow the OpenTelemetry ones). */
export class ProxyMetrics {
  private readonly requests: Counter;
  private readonly upstreamDuration: Histogram;
  private readonly firstToken: Histogram;
  private readonly overhead: Histogram;
  private readonly retries: Counter;
  private readonly failovers: Counter;
  private readonly inFlight: UpDownCounter;
  private readonly tokens: Counter;

  constructor(meter: Meter, upstreams: UpstreamSet) {
    const buckets = { advice: { explicitBucketBoundaries: LATENCY_BUCKETS_SECONDS } };
    this.requests = meter.createCounter('llm_proxy_requests', { description: 'Proxied requests by connector, model and status' });
    this.upstreamDuration = meter.createHistogram('llm_proxy_upstream_duration', { description: 'Upstream attempt duration until its answer was complete', unit: 's', ...buckets });
    this.firstToken = meter.createHistogram('llm_proxy_time_to_first_token', { description: 'From request received to the first streamed byte sent', unit: 's', ...buckets });
    this.overhead = meter.createHistogram('llm_proxy_overhead', { description: 'Time the proxy added around the final upstream attempt', unit: 's', ...buckets });
    this.retries = meter.createCounter('llm_proxy_retries', { description: 'Attempts repeated on the same connector' });
    this.failovers = meter.createCounter('llm_proxy_failovers', { description: 'Requests moved from one connector to the next' });
    this.inFlight = meter.createUpDownCounter('llm_proxy_in_flight', { description: 'Requests being proxied now' });
    this.tokens = meter.createCounter('llm_proxy_tokens', { description: 'Tokens reported by upstreams, per key, model and connector' });
    meter
      .createObservableGauge('llm_proxy_breaker_state', { description: '1 for the current breaker state of each connector' })
      .addCallback((result) => {
        for (const upstream of upstreams.list()) {
          const state = upstream.breaker.state;
          for (const s of BREAKER_STATES) result.observe(s === state ? 1 : 0, { connector: upstream.configId, state: s });
        }
      });
  }

  request(route: string, connector: string, model: string, status: number): void {
    this.requests.add(1, { route, connector, model, status: String(status) });
  }
  upstream(connector: string, status: string, seconds: number): void {
    this.upstreamDuration.record(seconds, { connector, status });
  }
  timeToFirstToken(connector: string, model: string, seconds: number): void {
    this.firstToken.record(seconds, { connector, model });
  }
  addedOverhead(route: string, seconds: number): void {
    this.overhead.record(seconds, { route });
  }
  retry(connector: string, reason: string): void {
    this.retries.add(1, { connector, reason });
  }
  failover(from: string, reason: string): void {
    this.failovers.add(1, { from, reason });
  }
  started(route: string): void {
    this.inFlight.add(1, { route });
  }
  finished(route: string): void {
    this.inFlight.add(-1, { route });
  }
  usage(key: string, model: string, connector: string, usage: Usage): void {
    this.tokens.add(usage.promptTokens, { key, model, connector, kind: 'prompt' });
    this.tokens.add(usage.completionTokens, { key, model, connector, kind: 'completion' });
  }
}
