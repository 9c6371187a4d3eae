import type { Logger } from 'pino';
import { accessLineWriter } from '../logging/logger';
import type { MetricsService } from '../metrics/metrics.service';

/** What the kit records of one answered request. */
export interface RequestRecord {
  method: string;
  /** The route pattern (metrics label), e.g. `/v1/x/:id`. */
  route: string;
  /** The path asked for, without the query string. */
  path: string;
  status: number;
  /** Time from the request's arrival to the end of the answer, in ms. */
  ms: number;
  principal?: string | undefined;
  traceId: string;
  /** Fields a service adds to its line (model, connector, ...); never secrets. */
  extra?: Record<string, unknown>;
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
