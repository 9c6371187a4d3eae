import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { ErrorCode, PatchbayError, RequestController } from '@patchbay/core';
import {
  Scope,
  authenticateBearer,
  createErrorResponder,
  createRequestRecorder,
  formatTraceparent,
  installHotPath,
  pathOf,
  readJsonBody,
  toPatchbayError,
  traceContextFor,
  type MetricsService,
  type Principal,
  type ReadinessService,
  type TokenStore,
} from '@patchbay/nest';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ProxyMetrics } from '../metrics/proxy-metrics';
import { parseRequestBody } from '../proxy/json-body';
import type { Endpoint, ProxyCall, ProxyEngine, StreamSink } from '../proxy/proxy-engine';
import type { UpstreamSet } from '../upstreams/upstream-set';
import { openAiError, openAiErrorRenderer } from './openai-errors';

export interface OpenAiRoutesDeps {
  engine: ProxyEngine;
  upstreams: UpstreamSet;
  tokens: TokenStore;
  metrics: ProxyMetrics;
  /** The kit's HTTP metrics, recorded here for the routes Fastify does not see. */
  httpMetrics: MetricsService;
  readiness: ReadinessService;
  logger: Logger;
  bodyLimitBytes: number;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

const ENDPOINTS = new Map<string, Endpoint>([
  ['/v1/chat/completions', 'chat/completions'],
  ['/v1/completions', 'completions'],
  ['/v1/embeddings', 'embeddings'],
]);

function clientTimeout(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 1) throw new PatchbayError(ErrorCode.VALIDATION, 'x-patchbay-timeout-ms must be a positive integer (milliseconds)');
  return ms;
}

/** An in-band OpenAI-style error event: what the SDKs raise as an APIError mid-stream. */
function errorEvent(error: PatchbayError): Buffer {
  return Buffer.from(`data: ${JSON.stringify(openAiError(error).body)}\n\n`);
}

function httpSink(res: ServerResponse): StreamSink {
  return {
    write: (bytes) => res.write(bytes),
    onDrain: (resume) => res.once('drain', resume),
    end: () => res.end(),
    fail: (error) => {
      if (res.destroyed || res.writableEnded) return;
      res.end(errorEvent(error));
    },
  };
}

/**
 * The three proxy routes (`POST /v1/chat/completions`, `/v1/completions`,
 * `/v1/embeddings`) on the raw Node server, ahead of Fastify: this is the hot path, and
 * routing, hooks and the reply pipeline cost more than the proxying itself (see the
 * bench). It keeps the kit's contract by hand: bearer auth and scopes, trace context,
 * one JSON log line and the HTTP metric per request, errors in OpenAI's shape with an
 * errorId logged once for 5xx, 503 while shutting down. The body is read as bytes,
 * parsed once and forwarded untouched except `model`.
 */
export function createProxyHandler(deps: OpenAiRoutesDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { engine, tokens, metrics, logger } = deps;
  const record = createRequestRecorder(deps.httpMetrics, logger);

  // The kit's one error path, rendering OpenAI's shape: errorId logged once for a 5xx, Retry-After, 413 closes.
  const responder = createErrorResponder({ logger, renderers: [openAiErrorRenderer], bodyLimit: deps.bodyLimitBytes });

  const handle = async (endpoint: Endpoint, route: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const receivedAt = performance.now();
    const trace = traceContextFor(req.headers.traceparent);
    const controller = new RequestController();
    // A client that goes away cancels the upstream request at once, streaming or not.
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort(new PatchbayError(ErrorCode.CANCELLED, 'client disconnected'));
    };
    res.once('close', onClose);
    metrics.started(route);
    let principal: Principal | undefined;
    let model = '-';
    let connector = 'none';
    let status = 500;
    try {
      if (deps.readiness.isShuttingDown) throw new PatchbayError(ErrorCode.UNAVAILABLE, 'shutting down; retry on another replica', { retryAfterSeconds: 1 });
      principal = authenticateBearer(tokens, req.headers.authorization, [Scope.USE]);
      const body = parseRequestBody(await readJsonBody(req, deps.bodyLimitBytes));
      model = body.model;
      if (endpoint === 'embeddings' && body.stream) throw new PatchbayError(ErrorCode.VALIDATION, 'embeddings cannot stream', { details: { param: 'stream' } });
      const timeoutMs = clientTimeout(req.headers['x-patchbay-timeout-ms']);
      const call: ProxyCall = {
        route,
        endpoint,
        body,
        principal,
        controller,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        traceparent: formatTraceparent(trace),
        receivedAt,
      };
      const answer = await engine.execute(call);
      connector = answer.upstream.configId;
      status = answer.status;
      const headers = answer.headers;
      headers['x-patchbay-connector'] = connector;
      headers['x-patchbay-attempts'] = String(answer.attempts);
      const overhead = (): number => ((call.firstDispatchAt ?? receivedAt) - receivedAt + performance.now() - answer.answeredAt) / 1000;
      if (answer.kind === 'json') {
        if (!res.destroyed) {
          headers['content-length'] = String(answer.body.length);
          headers['content-type'] ??= 'application/json';
          res.writeHead(answer.status, headers);
          res.end(answer.body);
        }
        metrics.addedOverhead(route, overhead());
        if (answer.usage) metrics.usage(principal.name, model, connector, answer.usage);
        return;
      }
      // Headers and the first chunk leave together, at once (relay writes the first chunk
      // before it returns); nothing is buffered after that. Bookkeeping comes after the write.
      res.writeHead(200, { ...SSE_HEADERS, ...headers });
      const relayed = engine.relay(answer, httpSink(res));
      const firstChunkMs = performance.now() - receivedAt;
      metrics.addedOverhead(route, overhead());
      metrics.timeToFirstToken(connector, model, firstChunkMs / 1000);
      const result = await relayed;
      if (result.usage) metrics.usage(principal.name, model, connector, result.usage);
      if (!result.ok) status = 502;
    } catch (thrown) {
      const error = toPatchbayError(thrown);
      const failed = error.details?.['connector'];
      if (typeof failed === 'string') connector = failed;
      status = responder.sendRaw(error, 'POST', route, res);
    } finally {
      res.off('close', onClose);
      metrics.finished(route);
      metrics.request(route, connector, model, status);
      record({
        method: 'POST',
        route,
        path: route,
        status,
        ms: performance.now() - receivedAt,
        principal: principal?.name,
        traceId: trace.traceId,
        extra: { model, connector },
      });
    }
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const path = pathOf(req.url);
    const endpoint = ENDPOINTS.get(path);
    if (!endpoint) return false;
    void handle(endpoint, path, req, res);
    return true;
  };
}

/**
 * Registers the OpenAI-compatible API: the hot proxy routes on the raw server, the
 * model list as ordinary Fastify routes (errors rendered in OpenAI's shape by the kit).
 */
export function registerOpenAiRoutes(fastify: FastifyInstance, deps: OpenAiRoutesDeps): void {
  installHotPath(fastify.server, createProxyHandler(deps));
  const principalOf = (request: FastifyRequest): Principal => {
    const principal = authenticateBearer(deps.tokens, request.headers.authorization, [Scope.USE, Scope.READ]);
    request.principal = principal;
    return principal;
  };
  fastify.get('/v1/models', async (request, reply) => {
    const principal = principalOf(request);
    return reply.send({ object: 'list', data: deps.upstreams.modelsFor(principal) });
  });
  fastify.get<{ Params: { '*': string } }>('/v1/models/*', async (request, reply) => {
    const principal = principalOf(request);
    const id = request.params['*'];
    const model = deps.upstreams.modelsFor(principal).find((m) => m.id === id);
    if (!model) throw new PatchbayError(ErrorCode.NOT_FOUND, `The model '${id}' does not exist`, { details: { param: 'model', code: 'model_not_found' } });
    return reply.send(model);
  });
}
