import { ConfigIdPipe, Scope, parseWith, registerFastRoute, type ErrorMapper } from '@patchbay/nest';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import type { BrokerSettings } from '../config/broker-settings';
import { serializeBody } from '../query/execute';
import type { QueryService } from '../query/query.service';
import { queryBodySchema } from './schemas';

/**
 * `POST /v1/databases/:configId/query`, the broker's hot path, answered by the kit's fast
 * route (same token, scope, allow-list, validation and problem+json errors as the Nest
 * controller, which keeps the route for OpenAPI).
 */
export function registerFastQueryRoute(
  app: NestFastifyApplication,
  deps: { queries: QueryService; settings: BrokerSettings; logger: Logger; bodyLimit: number; mappers: readonly ErrorMapper[] },
): void {
  const configIds = new ConfigIdPipe();
  registerFastRoute(app, {
    method: 'POST',
    url: '/v1/databases/:configId/query',
    scopes: [Scope.USE],
    logger: deps.logger,
    mappers: deps.mappers,
    bodyLimit: deps.bodyLimit,
    handle: async (request, principal) => {
      const configId = configIds.transform(request.params['configId'] ?? '');
      const body = parseWith(queryBodySchema, request.body);
      const result = await deps.queries.query(principal, configId, body);
      return serializeBody(result, deps.settings.maxResponseBytes);
    },
  });
}
