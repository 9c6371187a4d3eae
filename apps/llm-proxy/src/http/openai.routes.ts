import { performance } from 'node:perf_hooks';
import type { ServerResponse } from 'node:http';
import { ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';
import { Scope, assertScopes, bearerToken, formatTraceparent, type ErrorResponder, type Principal, type TokenStore } from '@patchbay/nest';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ProxyMetrics } from '../metrics/proxy-metrics';
import { parseRequestBody } from '../proxy/json-body';
import type { Endpoint, ProxyCall, ProxyEngine, StreamSink } from '../proxy/proxy-engine';
import type { UpstreamSet } from '../upstreams/upstream-set';
import { openAiError } from './openai-errors';

export interface OpenAiRoutesDeps {
  engine: ProxyEngine;
  upstreams: UpstreamSet;
  tokens: TokenStore;
  metrics: ProxyMetrics;
  responder: ErrorResponder;
  bodyLimitBytes: number;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

function authenticate(tokens: TokenStore, request: FastifyRequest, scopes: readonly Scope[]): Principal {
  const token = bearerToken(request.headers.authorization);
  if (!token) throw new PatchbayError(ErrorCode.UNAUTHORIZED, 'missing bearer token: send `Authorization: Bearer <patchbay token>`');
  const principal = tokens.authenticate(token);
  if (!principal) throw new PatchbayError(ErrorCode.UNAUTHORIZED, 'unknown or revoked token');
  request.principal = principal;
  assertScopes(principal, scopes);
  return principal;
}

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
 * The OpenAI-compatible routes, as plain Fastify routes in their own encapsulated
 * context: the body arrives as raw bytes (parsed once, forwarded untouched), streams
 * write straight to the socket, and no Nest interceptor sits on the hot path. Errors
 * go through the kit's responder, rendered in OpenAI's shape.
 */
export function registerOpenAiRoutes(fastify: FastifyInstance, deps: OpenAiRoutesDeps): void {
  const { engine, tokens, metrics, responder } = deps;

  fastify.register(async (scope) => {
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: deps.bodyLimitBytes }, (_request, body, done) => done(null, body));
    scope.setErrorHandler((error, request, reply) => responder.send(error, request, reply));

    const proxyRoute = (endpoint: Endpoint) => {
      const route = `/v1/${endpoint}`;
      return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
        const receivedAt = performance.now();
        const overhead = (answeredAt: number, firstDispatchAt: number | undefined): number =>
          ((firstDispatchAt ?? receivedAt) - receivedAt + performance.now() - answeredAt) / 1000;
        const principal = authenticate(tokens, request, [Scope.USE]);
        const body = parseRequestBody(request.body);
        if (endpoint === 'embeddings' && body.stream) throw new PatchbayError(ErrorCode.VALIDATION, 'embeddings cannot stream', { details: { param: 'stream' } });
        const timeoutMs = clientTimeout(request.headers['x-patchbay-timeout-ms']);
        const res = reply.raw;
        const controller = new AbortController();
        // A client that goes away cancels the upstream request at once, streaming or not.
        const onClose = (): void => {
          if (!res.writableFinished) controller.abort(new PatchbayError(ErrorCode.CANCELLED, 'client disconnected'));
        };
        res.once('close', onClose);
        metrics.started(route);
        let connector = 'none';
        let status = 500;
        try {
          const call: ProxyCall = {
            route,
            endpoint,
            body,
            principal,
            signal: controller.signal,
            ...(timeoutMs === undefined ? {} : { timeoutMs }),
            traceparent: formatTraceparent(request.trace),
            receivedAt,
          };
          const answer = await engine.execute(call);
          connector = answer.upstream.configId;
          status = answer.status;
          const headers = { ...answer.headers, 'x-patchbay-connector': connector, 'x-patchbay-attempts': String(answer.attempts) };
          if (answer.kind === 'json') {
            reply.code(answer.status).headers(headers);
            await reply.send(answer.body);
            metrics.addedOverhead(route, overhead(answer.answeredAt, call.firstDispatchAt));
            if (answer.usage) metrics.usage(principal.name, body.model, connector, answer.usage);
            return;
          }
          reply.hijack();
          res.writeHead(200, { ...SSE_HEADERS, ...headers });
          metrics.addedOverhead(route, overhead(answer.answeredAt, call.firstDispatchAt));
          metrics.timeToFirstToken(connector, body.model, (performance.now() - receivedAt) / 1000);
          const result = await engine.relay(answer, httpSink(res));
          if (result.usage) metrics.usage(principal.name, body.model, connector, result.usage);
          if (!result.ok) status = 502;
        } catch (error) {
          status = isPatchbayError(error) ? error.status : 500;
          if (isPatchbayError(error) && typeof error.details?.['connector'] === 'string') connector = error.details['connector'];
          throw error;
        } finally {
          res.off('close', onClose);
          metrics.finished(route);
          metrics.request(route, connector, body.model, status);
        }
      };
    };

    for (const endpoint of ['chat/completions', 'completions', 'embeddings'] as const) {
      scope.post(`/v1/${endpoint}`, { bodyLimit: deps.bodyLimitBytes }, proxyRoute(endpoint));
    }

    scope.get('/v1/models', async (request, reply) => {
      const principal = authenticate(tokens, request, [Scope.USE, Scope.READ]);
      const data = deps.upstreams.models().filter((m) => !principal.models || principal.models.includes(m.id));
      return reply.send({ object: 'list', data });
    });

    scope.get<{ Params: { '*': string } }>('/v1/models/*', async (request, reply) => {
      const principal = authenticate(tokens, request, [Scope.USE, Scope.READ]);
      const id = request.params['*'];
      const model = deps.upstreams.models().find((m) => m.id === id && (!principal.models || principal.models.includes(m.id)));
      if (!model) throw new PatchbayError(ErrorCode.NOT_FOUND, `The model '${id}' does not exist`, { details: { param: 'model', code: 'model_not_found' } });
      return reply.send(model);
    });
  });
}
