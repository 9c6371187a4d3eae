import type { Logger } from 'pino';
import { accessLineWriter, type AccessLine } from '../logging/logger';
import type { MetricsService } from '../metrics/metrics.service';

/** What the kit records of one answered request: its access line (the route pattern is also the metric label). */
export interface RequestRecord extends AccessLine {
  traceId: string;
}

/**
 * The HTTP duration metric and the one log line per request, for handlers that answer
 * on the raw server (the Fastify hooks do the same for every other route).
 */
export function createRequestRecorder(metrics: MetricsService, logger: Logger): (record: RequestRecord) => void {
  const writeLine = accessLineWriter(logger);
  return (record) => {
    metrics.recordHttp(record.method, record.route, record.status, record.ms / 1000);
    writeLine(record);
  };
}
