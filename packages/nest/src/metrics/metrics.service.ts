import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { diag, type Meter } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LabeledHistogram, type HistogramOptions } from './histogram';

/** Buckets (seconds) that resolve sub-millisecond proxy overheads as well as slow calls. */
export const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The service's metrics, exported in Prometheus text format at `/metrics` (served by the
 * app's own HTTP server, no second port): the OpenTelemetry meter's instruments, then
 * the kit's {@link LabeledHistogram}s, which per-request paths use instead of
 * OpenTelemetry histograms (a record there costs a sort and a JSON encoding).
 */
@Injectable()
export class MetricsService implements OnApplicationShutdown {
  readonly meter: Meter;
  private readonly exporter: PrometheusExporter;
  private readonly provider: MeterProvider;
  private readonly serializer: PrometheusSerializer;
  private readonly histograms = new Map<string, LabeledHistogram>();
  private readonly httpDuration: LabeledHistogram<'method' | 'route' | 'status'>;

  constructor(serviceName: string) {
    this.exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    // The exporter's own settings: no prefix, no timestamps, target info, no scope info.
    this.serializer = new PrometheusSerializer('', false, undefined, false, true);
    this.provider = new MeterProvider({
      readers: [this.exporter],
      resource: resourceFromAttributes({ 'service.name': serviceName }),
    });
    this.meter = this.provider.getMeter(serviceName);
    this.httpDuration = this.histogram('http_server_request_duration', {
      description: 'Duration of HTTP requests served',
      unit: 's',
      buckets: LATENCY_BUCKETS_SECONDS,
      labels: ['method', 'route', 'status'],
    });
  }

  /**
   * A histogram exported at `/metrics` beside the meter's instruments.
   * @throws Error when the name is taken.
   */
  histogram<L extends string>(name: string, options: HistogramOptions<L>): LabeledHistogram<L> {
    if (this.histograms.has(name)) throw new Error(`histogram '${name}' is already registered`);
    const histogram = new LabeledHistogram(name, options);
    this.histograms.set(name, histogram);
    return histogram;
  }

  /** Records one served HTTP request. `route` is the route pattern, never the raw path. */
  recordHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.labels(method, route, String(status)).record(seconds);
  }

  /** The whole exposition: the meter's instruments, then the kit's histograms. */
  async exposition(): Promise<string> {
    const { resourceMetrics, errors } = await this.exporter.collect();
    if (errors.length > 0) diag.error('metrics collection errors', ...errors);
    let text = this.serializer.serialize(resourceMetrics);
    for (const histogram of this.histograms.values()) text += histogram.serialize();
    return text;
  }

  /** Writes the Prometheus exposition to a raw Node response. */
  serve(_request: IncomingMessage, response: ServerResponse): void {
    response.statusCode = 200;
    response.setHeader('content-type', 'text/plain');
    this.exposition().then(
      (text) => response.end(text),
      (error: unknown) => response.end(`# failed to export metrics: ${String(error)}`),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => undefined);
  }
}
