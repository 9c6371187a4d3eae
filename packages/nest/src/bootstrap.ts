import type { INestApplication, Type, DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { createReadStream } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, join } from 'node:path';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';
import { authenticateBearer } from './auth/auth.guard';
import { TokenStore } from './auth/token-store';
import { ConfigError, type PatchbayConfig } from './config/config';
import { createErrorResponder, ProblemFilter, type ErrorRenderer } from './errors/problem.filter';
import { MAX_PARAM_LENGTH, type ErrorMapper } from './errors/problem';
import { ReadinessService } from './health/readiness.service';
import { createClientErrorHandler } from './http/client-errors';
import { markRouteAuth } from './http/early-auth';
import { pathOf } from './http/hot-path';
import { runInTraceContext, setAmbientTraceContext, traceContextFor, type TraceContext } from './http/trace-context';
import { PinoNestLogger, accessLineWriter } from './logging/logger';
import { MetricsService } from './metrics/metrics.service';
import { startTracing, stopTracing } from './telemetry/tracing';
import { addOperations } from './operations/openapi';
import { operationsServedBy } from './operations/serve';

declare module 'fastify' {
  interface FastifyRequest {
    trace: TraceContext;
  }
}

export interface CreateAppOptions {
  config: PatchbayConfig;
  logger: Logger;
  /** OpenAPI title and description shown at `/docs`. */
  title: string;
  description?: string;
  /** Driver errors -> PatchbayError (e.g. SQLSTATE mapping). */
  errorMappers?: readonly ErrorMapper[];
  /** Protocol-shaped errors for path prefixes (OpenAI, JSON-RPC). */
  errorRenderers?: readonly ErrorRenderer[];
  /**
   * Run handlers inside their trace context (default true); see setAmbientTraceContext.
   * The request log line and explicit `request.trace` carry the trace either way.
   */
  ambientTraceContext?: boolean;
}

/** How often, while shutting down, connections whose last request was answered are closed. */
const IDLE_REAP_INTERVAL_MS = 50;

/** Paths that are polled constantly and not worth a log line each. */
const QUIET_PATHS = new Set(['/health/live', '/health/ready', '/metrics']);

/**
 * Creates a Patchbay service on NestJS + Fastify with the kit's cross-cutting behaviour:
 * body limit, a bound on the time a request may take to arrive (`PATCHBAY_BODY_TIMEOUT_MS`,
 * 408), a missing or unknown token refused (401) before any body is read, YAML bodies,
 * trace context, one JSON log line per request, HTTP metrics, problem+json errors (also
 * for errors Fastify or Node raise before Nest sees the request), 503 with `Retry-After`
 * while shutting down, OpenAPI at `/docs`, and graceful shutdown on SIGINT/SIGTERM.
 */
export async function createApp(rootModule: Type<unknown> | DynamicModule, options: CreateAppOptions): Promise<NestFastifyApplication> {
  const { config, logger } = options;
  startTracing(config.service.name);
  setAmbientTraceContext(options.ambientTraceContext ?? true);
  const responder = createErrorResponder({
    logger,
    mappers: options.errorMappers ?? [],
    renderers: options.errorRenderers ?? [],
    bodyLimit: config.bodyLimitBytes,
  });
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    logger: false,
    trustProxy: true,
    // Keep-alive sockets would hold shutdown open; in-flight requests still finish.
    forceCloseConnections: 'idle',
    // The kit answers while shutting down itself (problem+json with Retry-After).
    return503OnClosing: false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Node's own bound on receiving a request, raw hot paths included: no timer per request.
    // Given to the server's constructor too: Node 20 ignores a requestTimeout set afterwards,
    // which is all Fastify's own option does. The check runs every
    // `connectionsCheckingInterval`, so that sets the precision.
    requestTimeout: config.bodyTimeoutMs,
    http: { requestTimeout: config.bodyTimeoutMs, connectionsCheckingInterval: Math.min(1000, Math.ceil(config.bodyTimeoutMs / 4)) },
    clientErrorHandler: createClientErrorHandler(logger, config.bodyTimeoutMs),
    // A too-long path parameter or bad percent-encoding, raised before any route runs.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => responder.send(error, request, reply),
  });
  const app = await NestFactory.create<NestFastifyApplication>(rootModule, adapter, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });
  app.useGlobalFilters(new ProblemFilter(responder));
  markRouteAuth(app);

  const fastify = app.getHttpAdapter().getInstance();
  fastify.addContentTypeParser(
    ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'],
    { parseAs: 'string' },
    (_request: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => done(null, body),
  );

  const metrics = app.get(MetricsService);
  const writeAccessLine = accessLineWriter(logger);
  fastify.decorateRequest('trace', null as unknown as TraceContext);
  // Handlers run inside their request's trace context (bus envelopes, registry calls and
  // log lines read it). Entered with callback-style hooks so the rest of the lifecycle
  // continues inside `run`; re-entered before validation because Fastify resumes after
  // reading the body from the socket's async context (as @fastify/request-context does).
  const tokens = app.get(TokenStore);
  const readiness = app.get(ReadinessService);
  fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    request.trace = traceContextFor(request.headers.traceparent);
    // Refused here, before Fastify reads a body: a caller without a valid token cannot
    // make the service buffer or wait for one (scopes are still checked by the guard).
    // Answered through the responder, so protocol-shaped prefixes keep their shape.
    const refusal = earlyRefusal(request, readiness, tokens);
    if (refusal) {
      if (request.raw.headers['content-length'] !== undefined || request.raw.headers['transfer-encoding'] !== undefined) {
        // The unread body would otherwise be taken for the next request, or held open.
        void reply.header('connection', 'close');
      }
      responder.send(refusal, request, reply);
      return;
    }
    runInTraceContext(request.trace, done);
  });
  fastify.addHook('preValidation', (request: FastifyRequest, _reply: FastifyReply, done: () => void) => {
    runInTraceContext(request.trace, done);
  });
  fastify.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const elapsed = reply.elapsedTime;
    metrics.recordHttp(request.method, route, reply.statusCode, elapsed / 1000);
    if (QUIET_PATHS.has(route) && reply.statusCode < 400) return;
    writeAccessLine({
      traceId: request.trace?.traceId,
      method: request.method,
      route,
      path: pathOf(request.url),
      status: reply.statusCode,
      ms: elapsed,
      principal: request.principal?.name,
    });
  });

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(options.title)
      .setDescription(options.description ?? '')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  serveDocs(fastify, () => addOperations(structuredClone(document), operationsServedBy(fastify.server)), options.title);
  return app;
}

/** Why a request is refused before its body is read, if it is: shutting down or no valid token. */
function earlyRefusal(request: FastifyRequest, readiness: ReadinessService, tokens: TokenStore): PatchbayError | undefined {
  if (readiness.isShuttingDown) {
    return new PatchbayError(ErrorCode.UNAVAILABLE, 'shutting down; retry on another replica', { retryAfterSeconds: 1 });
  }
  if (request.routeOptions.config.patchbayAuth !== 'bearer') return undefined;
  try {
    request.principal = authenticateBearer(tokens, request.headers.authorization);
    return undefined;
  } catch (error) {
    return isPatchbayError(error) ? error : new PatchbayError(ErrorCode.UNAUTHORIZED, 'could not check the bearer token', { cause: error });
  }
}

const SWAGGER_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
};

/**
 * OpenAPI at `/docs/json` and Swagger UI at `/docs`. Served by hand because the
 * `@fastify/static` release Nest's Fastify adapter wants needs Node 22.
 */
function serveDocs(fastify: FastifyInstance, documentOf: () => OpenAPIObject, title: string): void {
  // Built on first request: the operations are declared after the app is created.
  let document: OpenAPIObject | undefined;
  // The package folder only: requiring swagger-ui-dist itself would load its 1 MB bundle.
  const assets = dirname(require.resolve('swagger-ui-dist/package.json'));
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script><script>
SwaggerUIBundle({ url: '/docs/json', dom_id: '#ui', persistAuthorization: true });
</script></body></html>`;
  fastify.get('/docs', (_request, reply) => {
    void reply.type('text/html; charset=utf-8').send(html);
  });
  fastify.get('/docs/json', (_request, reply) => {
    document ??= documentOf();
    void reply.send(document);
  });
  fastify.get<{ Params: { file: string } }>('/docs/assets/:file', (request, reply) => {
    const type = SWAGGER_ASSETS[request.params.file];
    if (!type) return reply.status(404).type('application/problem+json').send({ status: 404, title: 'Not found', code: 'NOT_FOUND', detail: 'no such asset' });
    return reply.type(type).send(createReadStream(join(assets, request.params.file)));
  });
}

/**
 * Listens on the configured port and installs graceful shutdown: on SIGINT/SIGTERM the
 * service reports not-ready, stops accepting, lets in-flight work finish (bounded by
 * `PATCHBAY_SHUTDOWN_TIMEOUT_MS`), closes pools and children, then exits. `alsoClose`
 * runs beside the app's close (e.g. the gRPC server).
 */
export async function listen(
  app: INestApplication<Server>,
  config: PatchbayConfig,
  logger: Logger,
  alsoClose: readonly (() => Promise<void>)[] = [],
): Promise<string> {
  await app.listen(config.service.port, config.service.host);
  const url = await app.getUrl();
  let stopping = false;
  const stop = (signal: string): void => {
    // Process managers and `kill -TERM -<pgid>` often deliver a signal twice (the group's
    // and a forwarded one); a repeat must not cut the graceful shutdown short.
    if (stopping) {
      logger.info({ signal }, 'already shutting down');
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    app.get(ReadinessService).markShuttingDown();
    const force = setTimeout(() => {
      logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    force.unref();
    // Closing the server drops the connections idle at that moment only; a keep-alive
    // connection whose in-flight request finishes later would hold the close open until
    // the timeout. Reap those as they go idle (their request has been answered).
    const server = app.getHttpServer();
    const reaper = setInterval(() => server.closeIdleConnections(), IDLE_REAP_INTERVAL_MS);
    reaper.unref();
    Promise.all([app.close(), ...alsoClose.map((close) => close())])
      .finally(() => clearInterval(reaper))
      .then(stopTracing)
      .then(() => {
        logger.info('stopped');
        logger.flush?.();
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  // `on`, not `once`: with no listener left, a second signal would kill the process (143).
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return url.replace('[::1]', '127.0.0.1');
}

/**
 * Runs a service's `main`: a start-up failure prints one clear line (the variable names
 * of a bad configuration, or the error) and exits non-zero.
 */
export function runService(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${name}: ${error.message}\n`);
    } else {
      process.stderr.write(`${name} failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    process.exit(1);
  });
}
