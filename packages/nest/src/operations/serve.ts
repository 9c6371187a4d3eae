import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { TokenStore } from '../auth/token-store';
import type { ErrorMapper } from '../errors/problem';
import { ReadinessService } from '../health/readiness.service';
import { installHotPath } from '../http/hot-path';
import { createRequestRecorder } from '../http/request-log';
import { MetricsService } from '../metrics/metrics.service';
import { PATCHBAY_CONFIG } from '../tokens';
import type { PatchbayConfig } from '../config/config';
import type { Operation } from './operation';
import { OperationPipeline } from './pipeline';

const served = new WeakMap<Server, OperationPipeline>();

export interface ServeOperationsOptions {
  logger: Logger;
  /** Driver errors -> PatchbayError (e.g. SQLSTATE mapping). */
  mappers?: readonly ErrorMapper[];
}

/**
 * Serves `operations` on the app's one request pipeline (see {@link OperationPipeline})
 * and lists them in its OpenAPI document. Called once per service, before `listen`.
 * @returns the pipeline (gRPC methods bound to an operation run through it).
 */
export function serveOperations(app: NestFastifyApplication, operations: readonly Operation[], options: ServeOperationsOptions): OperationPipeline {
  const server: Server = app.getHttpAdapter().getInstance().server;
  if (served.has(server)) throw new Error('serveOperations: call it once per service, with every operation');
  const config = app.get<PatchbayConfig>(PATCHBAY_CONFIG);
  const pipeline = new OperationPipeline(operations, {
    tokens: app.get(TokenStore),
    readiness: app.get(ReadinessService),
    logger: options.logger,
    record: createRequestRecorder(app.get(MetricsService), options.logger),
    mappers: options.mappers ?? [],
    bodyLimit: config.bodyLimitBytes,
  });
  served.set(server, pipeline);
  installHotPath(server, (request, response) => pipeline.handle(request, response));
  return pipeline;
}

/** The operations a server answers (for its OpenAPI document). */
export function operationsServedBy(server: Server): readonly Operation[] {
  return served.get(server)?.operations ?? [];
}
