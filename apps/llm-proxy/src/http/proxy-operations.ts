import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { ErrorCode, PatchbayError, RequestController } from '@patchbay/core';
import { Scope, defineOperation, formatTraceparent, toPatchbayError, type Operation, type OperationContext } from '@patchbay/nest';
import type { ProxyMetrics } from '../metrics/proxy-metrics';
import { chatCodec, httpTextOut, translateJson, translatingSink, type ClientCodec } from '../apis/client-codec';
import { SseParser, type SseEvent } from '../apis/sse';
import type { WireApi } from '../apis/wire-api';
import { requestBodyOf, type RequestBody } from '../proxy/json-body';
import type { Pivot, ProxyCall, ProxyEngine, StreamSink } from '../proxy/proxy-engine';
import { openAiErrorRenderer } from './openai-errors';
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

/** What an API's operation adds to a proxied call before it runs. */
export interface PreparedCall {
  codec: ClientCodec;
  /** The body to route and forward, when not the one received (e.g. a conversation expanded). */
  body?: RequestBody;
  pivot?: Pivot;
  forwardHeaders?: Record<string, string>;
}

/** One proxied API route: which API it is, and how a request of it is prepared. */
export interface ApiRoute<B extends ProxiedFields> {
  api: WireApi;
  route: string;
  prepare(context: OperationContext<unknown, unknown, B>): PreparedCall | Promise<PreparedCall>;
}

/** The fields every proxied body has (checked by the operation's schema). */
export type ProxiedFields = Parameters<typeof requestBodyOf>[0];

function rawSink(res: ServerResponse, codec: ClientCodec): StreamSink {
  return {
    write: (bytes) => res.write(bytes),
    onDrain: (resume) => res.once('drain', resume),
    end: () => res.end(),
    fail: (error) => {
      if (res.destroyed || res.writableEnded) return;
      // The break is reported in the client's API shape (an OpenAI error chunk, a Responses or Anthropic `error` event).
      codec.stage((text) => res.write(text)).fail(error);
      res.end();
    },
  };
}

/** A passthrough stream whose events `observe` also sees (the response store reads `response.completed`). */
function observedSink(sink: StreamSink, observe: (event: SseEvent) => void): StreamSink {
  const parser = new SseParser();
  return {
    ...sink,
    write: (bytes) => {
      for (const event of parser.push(bytes)) observe(event);
      return sink.write(bytes);
    },
  };
}

/**
 * Proxies one request and writes the answer itself (the upstream's bytes and headers, or
 * its stream, translated into the client's API when the connector spoke another); errors
 * go back to the kit's pipeline, which renders them in the operation's error shape.
 */
export function proxy<B extends ProxiedFields>(
  deps: ProxyOperationsDeps,
  api: ApiRoute<B>,
): (context: OperationContext<unknown, unknown, B>) => Promise<undefined> {
  const { engine, metrics } = deps;
  const { route } = api;
  return async (context) => {
    const { body: fields, rawBody, principal, headers: requestHeaders, trace, response: res } = context;
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
      const timeoutMs = clientTimeout(requestHeaders['x-patchbay-timeout-ms']);
      const prepared = await api.prepare(context);
      const { codec } = prepared;
      const call: ProxyCall = {
        route,
        api: api.api,
        body: prepared.body ?? requestBodyOf(fields, rawBody ?? Buffer.from(JSON.stringify(fields))),
        ...(prepared.pivot ? { pivot: prepared.pivot } : {}),
        ...(prepared.forwardHeaders ? { forwardHeaders: prepared.forwardHeaders } : {}),
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
      const native = answer.api === codec.api;
      const overhead = (): number => ((call.firstDispatchAt ?? receivedAt) - receivedAt + performance.now() - answer.answeredAt) / 1000;
      if (answer.kind === 'json') {
        const { body, usage } = translateJson(answer, codec);
        if (native && answer.status < 300) codec.observeJson?.(answer.body);
        if (!res.destroyed) {
          headers['content-length'] = String(Buffer.byteLength(body));
          if (!native) headers['content-type'] = 'application/json';
          headers['content-type'] ??= 'application/json';
          res.writeHead(answer.status, headers);
          res.end(body);
        }
        metrics.addedOverhead(route, overhead());
        if (usage) metrics.usage(principal.name, model, connector, usage, api.api);
        return undefined;
      }
      // Headers and the first chunk leave together, at once (relay writes the first chunk
      // before it returns); nothing is buffered after that. Bookkeeping comes after the write.
      if (!native) delete headers['content-type'];
      // Assigned, not spread: members a leading spread did not bring are runtime calls in Node 20 (see attempt.ts).
      res.writeHead(200, Object.assign({}, SSE_HEADERS, headers));
      const observe = codec.observeEvent;
      const sink = native ? (observe ? observedSink(rawSink(res, codec), observe) : rawSink(res, codec)) : translatingSink(httpTextOut(res), answer.api, codec);
      const relayed = engine.relay(answer, sink);
      const firstChunkMs = performance.now() - receivedAt;
      metrics.addedOverhead(route, overhead());
      metrics.timeToFirstToken(connector, model, firstChunkMs / 1000);
      const result = await relayed;
      if (result.usage) metrics.usage(principal.name, model, connector, result.usage, api.api);
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

function chatRoute(api: WireApi, route: string): ApiRoute<ProxiedBody> {
  return {
    api,
    route,
    prepare: ({ body }) => {
      if (api === 'embeddings' && body.stream) throw new PatchbayError(ErrorCode.VALIDATION, 'embeddings cannot stream', { details: { param: 'stream' } });
      return { codec: chatCodec(body.model, body.stream_options?.include_usage === true, api) };
    },
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
      handle: proxy(deps, chatRoute('chat', '/v1/chat/completions')),
    }),
    defineOperation({
      ...common,
      id: 'openai.completions',
      path: '/v1/completions',
      summary: 'Create a text completion (OpenAI-compatible, legacy)',
      description: `${PROXIED} ${STREAMS}`,
      body: completionBody,
      produces: 'sse',
      handle: proxy(deps, chatRoute('completions', '/v1/completions')),
    }),
    defineOperation({
      ...common,
      id: 'openai.embeddings',
      path: '/v1/embeddings',
      summary: 'Create embeddings (OpenAI-compatible)',
      description: PROXIED,
      body: embeddingBody,
      handle: proxy(deps, chatRoute('embeddings', '/v1/embeddings')),
    }),
  ];
}
