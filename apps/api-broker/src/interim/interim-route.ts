// TEMPORARY, deleted when `operations: ready` lands on main: serves the one operation on the
// raw Node server (token, scope, configId, allow-list, problem+json errors, access log) the
// way the kit's pipeline will.
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import {
  MetricsService,
  ReadinessService,
  TokenStore,
  assertConfigId,
  authenticateBearer,
  createErrorResponder,
  createRequestRecorder,
  installHotPath,
  mayUseConnector,
  pathOf,
  sendJson,
  traceContextFor,
  type Broker,
  type Principal,
} from '@patchbay/nest';
import type { Operation } from '@patchbay/nest/dist/operations/operation';
import type { Logger } from 'pino';
import type { ApiSpec, ApiUpstream } from '../forward/api-spec';
import { Scope } from '@patchbay/nest';

export function serveInterim(app: NestFastifyApplication, operation: Operation, broker: Broker<ApiSpec, ApiUpstream>, logger: Logger): void {
  const tokens = app.get(TokenStore);
  const readiness = app.get(ReadinessService);
  const record = createRequestRecorder(app.get(MetricsService), logger);
  const responder = createErrorResponder({ logger });
  installHotPath(app.getHttpAdapter().getInstance().server, (request, response) => {
    const path = pathOf(request.url);
    if (path === '/v1/connections' && request.method === 'GET') {
      try {
        const principal = authenticateBearer(tokens, request.headers.authorization, [Scope.READ]);
        sendJson(response, 200, JSON.stringify({ items: broker.statuses(principal) }));
      } catch (error) {
        responder.sendRaw(error, 'GET', path, response);
      }
      return true;
    }
    if (!path.startsWith('/v1/apis/')) return false;
    const started = performance.now();
    const trace = traceContextFor(request.headers.traceparent);
    const controller = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) controller.abort(new PatchbayError(ErrorCode.CANCELLED, 'the caller went away'));
    });
    let principal: Principal | undefined;
    void (async () => {
      try {
        if (readiness.isShuttingDown) throw new PatchbayError(ErrorCode.UNAVAILABLE, 'shutting down', { retryAfterSeconds: 1 });
        principal = authenticateBearer(tokens, request.headers.authorization, [Scope.USE]);
        const configId = assertConfigId(decodeURIComponent(path.split('/')[3] ?? ''));
        if (!mayUseConnector(principal, configId)) throw new PatchbayError(ErrorCode.FORBIDDEN, `token '${principal.name}' may not use connector '${configId}'`);
        await operation.handle({ params: { configId, path: '' }, query: {}, body: undefined, principal, headers: request.headers, trace, request, response, signal: controller.signal });
      } catch (error) {
        if (principal === undefined && !response.headersSent) response.setHeader('connection', 'close');
        responder.sendRaw(error, request.method ?? 'GET', path, response);
      } finally {
        record({ method: request.method ?? 'GET', route: operation.path, path, status: response.statusCode, ms: performance.now() - started, principal: principal?.name, traceId: trace.traceId });
      }
    })();
    return true;
  });
}
