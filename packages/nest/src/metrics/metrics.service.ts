import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Histogram, Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Buckets (seconds) that resolve sub-millisecond proxy overheads as well as slow calls. */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/**
 * The service's OpenTelemetry meter, exported in Prometheus text format at `/metrics`
 * (served by the app's own HTTP server, no second port).
 */
@Injectable()
export class MetricsService implements OnApplicationShutdown {
  readonly meter: Meter;
  private readonly exporter: PrometheusExporter;
  private readonly provider: MeterProvider;
  private readonly httpDuration: Histogram;

  constructor(serviceName: string) {
    this.exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    this.provider = new MeterProvider({
      readers: [this.exporter],
      resource: resourceFromAttributes({ 'service.name': serviceName }),
    });
    this.meter = this.provider.getMeter(serviceName);
    this.httpDuration = this.meter.createHistogram('http_server_request_duration', {
      description: 'Duration of HTTP requests served',
      unit: 's',
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS_SECONDS },
    });
  }

  /** Records one served HTTP request. `route` is the route pattern, never the raw path. */
  recordHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.record(seconds, { method, route, status: String(status) });
  }

  /** Writes the Prometheus exposition to a raw Node response. */
  serve(request: IncomingMessage, response: ServerResponse): void {
    this.exporter.getMetricsRequestHandler(request, response);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => undefined);
  }
}
