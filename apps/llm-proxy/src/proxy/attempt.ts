import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { RequestController, parseRetryAfter, type Deadline, type EmitterSignal } from '@patchbay/core';
import type { Logger } from 'pino';
import type { Pool } from 'undici';
import type { ProxyMetrics } from '../metrics/proxy-metrics';
import { WIRE_PATH, upstreamApiFor } from '../apis/wire-api';
import { wireBody } from '../apis/wire-body';
import type { Upstream } from '../upstreams/upstream';
import { AttemptFailure, FailureKind, classifyError, classifyStatus } from './classify';
import { jsonAsSse } from './json-as-sse';
import type { Answer, ProxyCall } from './proxy-call';
import { firstChunk, firstNonSpace, isEventStream, passHeaders, readAll, readRest, scrub } from './upstream-response';
import { usageFromJsonBody } from './usage';

const MAX_ERROR_BODY = 1024 * 1024;

/**
 * The connector's headers, the client's forwarded ones, then the proxy's own. Assigned, not
 * spread into a literal: in Node 20's V8 a member that a leading spread of a non-empty object
 * did not bring is added by a runtime call (that literal cost ~2 µs on every attempt).
 */
function upstreamHeaders(
  connector: Record<string, string>,
  forwarded: Record<string, string> | undefined,
  stream: boolean,
  traceparent: string | undefined,
): Record<string, string> {
  const headers: Record<string, string> = Object.assign({}, connector, forwarded);
  headers['content-type'] = 'application/json';
  headers['accept'] = stream ? 'text/event-stream' : 'application/json';
  headers['accept-encoding'] = 'identity';
  if (traceparent) headers['traceparent'] = traceparent;
  return headers;
}

/**
 * One attempt on one connector: through its breaker, the request with its connect /
 * first-byte / idle timeouts, and the verdict on what came back.
 */
export class UpstreamAttempt {
  constructor(
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
  ) {}

  /**
   * Resolves with an answer to commit. Rejects with an {@link AttemptFailure}, the
   * connection's refusal (CIRCUIT_OPEN, UPSTREAM_UNAVAILABLE while it reconnects:
   * nothing was sent) or the deadline's reason; hand an AttemptFailure to {@link failed}.
   */
  run(call: ProxyCall, upstream: Upstream, model: string, deadline: Deadline, attempt: number): Promise<Answer> {
    return upstream.connection.use((pool) => this.send(call, upstream, pool, model, deadline, attempt));
  }

  /** Books a failed attempt (the runtime counted it already): the log line, a 429's cool-down. */
  failed(error: unknown, upstream: Upstream, attempt: number): AttemptFailure {
    const failure = classifyError(error);
    this.logger.warn({ configId: upstream.configId, attempt, kind: failure.kind, status: failure.status, message: failure.message }, 'upstream attempt failed');
    if (failure.kind === FailureKind.RATE_LIMITED) upstream.cooldownUntil = Date.now() + (failure.retryAfterMs ?? 1000);
    return failure;
  }

  private async send(call: ProxyCall, upstream: Upstream, pool: Pool, model: string, deadline: Deadline, attempts: number): Promise<Answer> {
    const { options, basePath } = upstream.spec;
    const stream = call.body.stream;
    const wire = upstreamApiFor(call.api, options.apis) ?? call.api;
    // Only Chat Completions and completions streams report usage on request; the other APIs always do.
    const injectUsage = stream && !call.body.clientWantsUsage && options.streamUsage && (wire === 'chat' || wire === 'completions') && wire === call.api;
    const headers = upstreamHeaders(upstream.spec.headers, wire === call.api ? call.forwardHeaders : undefined, stream, call.traceparent);
    // Non-streaming attempts ride on the deadline (through the edge's controller's
    // EventEmitter signal when it has one: no AbortSignal listener per request); a stream
    // gets its own controller so its first-byte timer can abandon this attempt alone.
    let signal: AbortSignal | EmitterSignal = call.controller instanceof RequestController ? call.controller.emitterSignal : deadline.signal;
    let controller: AbortController | undefined;
    let firstByteTimer: NodeJS.Timeout | undefined;
    const onDeadline = (): void => controller?.abort(deadline.reason);
    if (stream) {
      const own = new AbortController();
      controller = own;
      signal = own.signal;
      deadline.signal.addEventListener('abort', onDeadline, { once: true });
      firstByteTimer = setTimeout(
        () => own.abort(new AttemptFailure(FailureKind.TIMEOUT, `upstream timed out (no first byte within ${options.firstTokenTimeoutMs} ms)`)),
        options.firstTokenTimeoutMs,
      );
    }
    const started = performance.now();
    call.firstDispatchAt ??= started;
    let committed = false;
    try {
      const response = await pool.request({
        path: `${basePath}/${WIRE_PATH[wire]}`,
        method: 'POST',
        headers,
        body: wireBody(call, wire, model, injectUsage),
        signal,
        headersTimeout: stream ? options.firstTokenTimeoutMs : Math.min(options.timeoutMs, Math.max(1, deadline.remainingMs)),
        bodyTimeout: options.idleTimeoutMs,
      });
      const status = response.statusCode;
      const verdict = classifyStatus(status);
      if (verdict !== 'ok' && verdict !== FailureKind.RATE_LIMITED) {
        const body = await readAll(response.body, MAX_ERROR_BODY);
        if (verdict === 'verbatim') {
          this.metrics.upstream(upstream.configId, String(status), (performance.now() - started) / 1000);
          return {
            kind: 'json',
            upstream,
            api: wire,
            attempts,
            status,
            headers: passHeaders(response.headers),
            body: scrub(body, upstream.spec.apiKey),
            usage: undefined,
            answeredAt: performance.now(),
          };
        }
        this.metrics.upstream(upstream.configId, String(status), (performance.now() - started) / 1000);
        throw new AttemptFailure(verdict, `upstream answered ${status}`, status);
      }
      if (verdict === FailureKind.RATE_LIMITED) {
        const body = await readAll(response.body, MAX_ERROR_BODY);
        const kind = classifyStatus(status, body);
        throw new AttemptFailure(kind as FailureKind, `upstream answered ${status}`, status, parseRetryAfter(response.headers, Date.now()));
      }
      if (!stream) {
        const body = await readAll(response.body);
        const first = firstNonSpace(body);
        if (first !== 0x7b && first !== 0x5b)
          throw new AttemptFailure(FailureKind.BAD_RESPONSE, `upstream answered ${status} with a body that is not JSON`, status);
        this.metrics.upstream(upstream.configId, String(status), (performance.now() - started) / 1000);
        return {
          kind: 'json',
          upstream,
          api: wire,
          attempts,
          status,
          headers: passHeaders(response.headers),
          body,
          usage: wire === call.api ? usageFromJsonBody(body) : undefined,
          answeredAt: performance.now(),
        };
      }
      let first = await firstChunk(response.body);
      let body: Readable = response.body;
      const answerHeaders = passHeaders(response.headers);
      if (!isEventStream(response.headers['content-type']) && wire !== 'chat' && wire !== 'completions') {
        throw new AttemptFailure(FailureKind.BAD_RESPONSE, `upstream answered a streaming ${WIRE_PATH[wire]} request without an event stream`, status);
      }
      if (!isEventStream(response.headers['content-type'])) {
        const lead = firstNonSpace(first);
        if (lead === 0x7b || lead === 0x5b) {
          // The upstream ignored `stream: true` (or failed in plain JSON): relay what it means, as SSE.
          const converted = jsonAsSse(await readRest(first, response.body), injectUsage || call.body.clientWantsUsage);
          if (converted.kind === 'error') {
            const message = scrub(Buffer.from(converted.message), upstream.spec.apiKey).toString('utf8');
            throw new AttemptFailure(FailureKind.BAD_RESPONSE, `upstream answered ${status} with an error instead of a stream: ${message}`, status);
          }
          if (converted.kind === 'unknown')
            throw new AttemptFailure(FailureKind.BAD_RESPONSE, `upstream answered a streaming request with JSON that is not a completion`, status);
          first = converted.bytes;
          body = Readable.from([]);
          delete answerHeaders['content-type'];
        }
      }
      committed = true;
      if (!controller) throw new Error('unreachable: streams have a controller');
      return {
        kind: 'stream',
        upstream,
        api: wire,
        clientApi: call.api,
        attempts,
        status,
        headers: answerHeaders,
        first,
        body,
        stripUsage: injectUsage,
        deadline,
        controller,
        answeredAt: performance.now(),
      };
    } catch (error) {
      const reason: unknown = signal.aborted ? signal.reason : undefined;
      if (reason instanceof AttemptFailure) throw reason;
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the abort reason as given: the deadline's TIMEOUT, the client's CANCELLED
      if (reason !== undefined) throw reason;
      throw classifyError(error);
    } finally {
      if (firstByteTimer) clearTimeout(firstByteTimer);
      if (!committed && controller) deadline.signal.removeEventListener('abort', onDeadline);
    }
  }
}
