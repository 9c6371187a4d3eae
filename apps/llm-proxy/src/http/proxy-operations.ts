import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { ErrorCode, PatchbayError, RequestController } from '@patchbay/core';
import { Scope, defineOperation, formatTraceparent, toPatchbayError, type Operation, type OperationContext } from '@patchbay/nest';
import type { ProxyMetrics } from '../metrics/proxy-metrics';
import { requestBodyOf } from '../proxy/json-body';
import type { Endpoint, ProxyCall, ProxyEngine, StreamSink } from '../proxy/proxy-engine';
import { openAiError, openAiErrorRenderer } from './openai-errors';
import { chatCompletionBody, completionBody, embeddingBody, type ProxiedBody } from './openai-schemas';

export interface ProxyOperationsDeps {
  engine: ProxyEngine;
  metrics: ProxyMetrics;
  bodyLimitBytes: number;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

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
 * Proxies one request and writes the answer itself (the upstream's bytes and headers, or
 * its stream); errors go back to the kit's pipeline, which renders them in OpenAI's shape.
 * The body was checked by the operation's schema and is forwarded as it came, except `model`.
 */
function proxy(deps: ProxyOperationsDeps, endpoint: Endpoint, route: string): (context: OperationContext<unknown, unknown, ProxiedBody>) => Promise<undefined> {
  const { engine, metrics } = deps;
  return async ({ body: fields, rawBody, principal, headers: requestHeaders, trace, response: res }) => {
    const receivedAt = performance.now();
    const controller = new RequestController();
    // A client that goes away cancels the upstream request at once, streaming or not.
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort(new PatchbayError(ErrorCode.CANCELLED, 'client disconnected'));
    };
    res.once('close', onClose);
    metrics.started(route);
    const model = fields.model;
    let connector = 'none';
    let status = 500;
    try {
      if (endpoint === 'embeddings' && fields.stream)
        throw new PatchbayError(ErrorCode.VALIDATION, 'embeddings cannot stream', { details: { param: 'stream' } });
      const timeoutMs = clientTimeout(requestHeaders['x-patchbay-timeout-ms']);
      const call: ProxyCall = {
        route,
        endpoint,
        body: requestBodyOf(fields, rawBody ?? Buffer.from(JSON.stringify(fields))),
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
        return undefined;
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
      return undefined;
    } catch (thrown) {
      const error = toPatchbayError(thrown);
      status = error.status;
      const failed = error.details?.['connector'];
      if (typeof failed === 'string') connector = failed;
      throw error;
    } finally {
      res.off('close', onClose);
      metrics.finished(route);
      metrics.request(route, connector, model, status);
    }
  };
}

const STREAMS = 'JSON, or server-sent events with `stream: true` (an upstream that ignores it is relayed as events too).';
const PROXIED =
  'Routed to the connectors serving `model` in priority order, with retries, breakers and failover; the upstream key is injected, the body forwarded as sent (only `model` is rewritten for a pinned connector). Errors in OpenAI’s shape.';

/** The three proxied OpenAI routes, on the kit's one pipeline (the hot path). */
export function proxyOperations(deps: ProxyOperationsDeps): Operation[] {
  const common = { method: 'POST', tags: ['openai'], scopes: [Scope.USE], errors: openAiErrorRenderer, bodyLimit: deps.bodyLimitBytes } as const;
  return [
    defineOperation({
      ...common,
      id: 'openai.chatCompletions',
      path: '/v1/chat/completions',
      summary: 'Create a chat completion (OpenAI-compatible)',
      description: `${PROXIED} ${STREAMS}`,
      body: chatCompletionBody,
      produces: 'sse',
      handle: proxy(deps, 'chat/completions', '/v1/chat/completions'),
    }),
    defineOperation({
      ...common,
      id: 'openai.completions',
      path: '/v1/completions',
      summary: 'Create a text completion (OpenAI-compatible, legacy)',
      description: `${PROXIED} ${STREAMS}`,
      body: completionBody,
      produces: 'sse',
      handle: proxy(deps, 'completions', '/v1/completions'),
    }),
    defineOperation({
      ...common,
      id: 'openai.embeddings',
      path: '/v1/embeddings',
      summary: 'Create embeddings (OpenAI-compatible)',
      description: PROXIED,
      body: embeddingBody,
      handle: proxy(deps, 'embeddings', '/v1/embeddings'),
    }),
  ];
}
