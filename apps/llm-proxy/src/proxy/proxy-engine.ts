import { performance } from 'node:perf_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { BreakerState, ConnectionState, Deadline, ErrorCode, PatchbayError, RequestController, computeBackoff, isPatchbayError, parseRetryAfter, type EmitterSignal } from '@patchbay/core';
import type { ConnectorWatcher, Principal } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { ProxySettings } from '../config/settings';
import type { ProxyMetrics } from '../metrics/proxy-metrics';
import type { Upstream } from '../upstreams/upstream';
import type { UpstreamSet } from '../upstreams/upstream-set';
import { AttemptFailure, FailureKind, classifyError, classifyStatus, exhaustedError } from './classify';
import { jsonAsSse } from './json-as-sse';
import { upstreamBody, type RequestBody } from './json-body';
import { SseRelay } from './sse-relay';
import { usageFromJsonBody, type Usage } from './usage';

export type Endpoint = 'chat/completions' | 'completions' | 'embeddings';

/** One client request, as the HTTP and gRPC edges hand it over. */
export interface ProxyCall {
  /** Route label for metrics, e.g. `/v1/chat/completions`. */
  route: string;
  endpoint: Endpoint;
  body: RequestBody;
  principal: Principal;
  /** Aborts when the client goes away (give this or `controller`). */
  signal?: AbortSignal;
  /**
   * A controller the edge owns and aborts when the client goes away: the engine's
   * deadline then aborts it directly instead of linking a second controller to a
   * signal. A {@link RequestController} also spares the AbortSignal on the way upstream.
   */
  controller?: AbortController;
  /** A shorter deadline the client asked for (ms). */
  timeoutMs?: number;
  traceparent?: string;
  /** `performance.now()` when the request arrived. */
  receivedAt: number;
  /** Set by the engine: `performance.now()` when the first upstream request was dispatched. */
  firstDispatchAt?: number;
}

interface AnswerBase {
  upstream: Upstream;
  attempts: number;
  status: number;
  /** Upstream headers safe to pass on. */
  headers: Record<string, string>;
  /** `performance.now()` when the upstream's answer (or first stream chunk) was in. */
  answeredAt: number;
}

/** A complete JSON answer: a success, or an upstream 4xx returned verbatim. */
export interface JsonAnswer extends AnswerBase {
  kind: 'json';
  body: Buffer;
  usage: Usage | undefined;
}

/** A committed stream: the first bytes arrived; the rest is relayed by {@link ProxyEngine.relay}. */
export interface StreamAnswer extends AnswerBase {
  kind: 'stream';
  first: Buffer;
  body: Readable;
  stripUsage: boolean;
  deadline: Deadline;
  controller: AbortController;
}

export type Answer = JsonAnswer | StreamAnswer;

/** Where a relayed stream goes (an HTTP response, a gRPC stream). */
export interface StreamSink {
  /** Returns false when the consumer wants the producer to pause until `onDrain`. */
  write(bytes: Buffer): boolean;
  onDrain(resume: () => void): void;
  end(): void;
  /** The stream broke after it started: say so in-band and end without `[DONE]`. */
  fail(error: PatchbayError): void;
}

const PASS_HEADERS = ['content-type', 'x-request-id', 'openai-processing-ms', 'openai-version'];
const MAX_ERROR_BODY = 1024 * 1024;

function passHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PASS_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string') out[name] = value;
  }
  for (const name in headers) {
    if (name.startsWith('x-ratelimit-')) {
      const value = headers[name];
      if (typeof value === 'string') out[name] = value;
    }
  }
  return out;
}

/** Collects a body (event listeners, not async iteration: this runs on every request). */
function readAll(body: Readable, limit = Infinity): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        body.destroy();
        resolve(Buffer.concat(chunks));
        return;
      }
      chunks.push(chunk);
    });
    body.once('error', reject);
    body.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
  });
}

function firstNonSpace(body: Buffer): number | undefined {
  for (let i = 0; i < body.length; i++) {
    const b = body[i];
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return b;
  }
  return undefined;
}

/** Waits for the first body chunk and pauses the stream there. */
function firstChunk(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      body.off('data', onData);
      body.off('error', onError);
      body.off('end', onEnd);
    };
    const onData = (chunk: Buffer): void => {
      body.pause();
      cleanup();
      resolve(chunk);
    };
    const onError = (error: unknown): void => {
      cleanup();
      reject(error);
    };
    const onEnd = (): void => {
      cleanup();
      reject(new AttemptFailure(FailureKind.BAD_RESPONSE, 'upstream ended the stream before sending anything'));
    };
    body.on('data', onData);
    body.once('error', onError);
    body.once('end', onEnd);
  });
}

/** The whole body after {@link firstChunk} paused it (it may have ended already). */
function readRest(first: Buffer, body: Readable): Promise<Buffer> {
  if (body.readableEnded) return Promise.resolve(first);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [first];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('error', reject);
    body.once('end', () => resolve(Buffer.concat(chunks)));
    body.resume();
  });
}

function isEventStream(contentType: string | string[] | undefined): boolean {
  // The usual spelling first: no lower-cased copy on every stream.
  return typeof contentType === 'string' && (contentType.includes('text/event-stream') || contentType.toLowerCase().includes('text/event-stream'));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Replaces every occurrence of the upstream key in a body passed back to a client. */
function scrub(body: Buffer, secret: string | undefined): Buffer {
  if (!secret || secret.length < 4 || body.indexOf(secret) < 0) return body;
  return Buffer.from(body.toString('utf8').split(secret).join('[redacted]'));
}

function modelNotAllowed(principal: Principal, model: string): PatchbayError {
  return new PatchbayError(ErrorCode.FORBIDDEN, `token '${principal.name}' may not use model '${model}'`, {
    details: { param: 'model', code: 'model_not_allowed' },
  });
}

/**
 * The proxying core shared by HTTP and gRPC: routes a request to its connectors and
 * runs the attempts. Per attempt: breaker, connect / first-byte / idle timeouts; across
 * attempts: one deadline, classified retries with backoff and jitter, 429 cool-downs,
 * failover in priority order. A stream commits (no more retries) at its first byte.
 */
export class ProxyEngine {
  constructor(
    private readonly upstreams: UpstreamSet,
    private readonly settings: ProxySettings,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
    /** The registry watcher: an unknown model is "not known yet" (503) until it has synced. */
    private readonly registry?: Pick<ConnectorWatcher, 'assertSynced'>,
  ) {}

  /**
   * @throws PatchbayError NOT_FOUND (unknown model, listing what exists), FORBIDDEN
   *   (model not allowed for the token), CIRCUIT_OPEN / RATE_LIMITED (every connector
   *   resting, with retryAfterSeconds), TIMEOUT, CANCELLED, UPSTREAM_* after the last attempt.
   */
  async execute(call: ProxyCall): Promise<Answer> {
    const { principal } = call;
    const routed = this.upstreams.route(call.body.model, principal.connectors);
    // Local-dev connectors from the environment (LLM_URL) are served without any registry, as readiness says.
    if (!routed && this.upstreams.size === 0) this.registry?.assertSynced(`model '${call.body.model}'`);
    if (!routed) throw this.unrouted(call.body.model, principal);
    const allowed = principal.models;
    if (allowed && !allowed.includes(call.body.model) && !allowed.includes(routed.upstreamModel)) throw modelNotAllowed(principal, call.body.model);
    const deadline = new Deadline(Math.min(call.timeoutMs ?? Infinity, this.settings.deadlineMs), call.controller ? { controller: call.controller } : { signal: call.signal });
    try {
      const answer = await this.attempts(call, routed.candidates, routed.upstreamModel, deadline);
      if (answer.kind === 'json') deadline.dispose();
      return answer;
    } catch (error) {
      deadline.dispose();
      throw error;
    }
  }

  /** Why nothing the token may use serves `model`: forbidden when a connector it may not use would. */
  private unrouted(model: string, principal: Principal): PatchbayError {
    if (principal.connectors && this.upstreams.route(model)) return modelNotAllowed(principal, model);
    const known = this.upstreams.modelsFor(principal).map((m) => m.id);
    return new PatchbayError(
      ErrorCode.NOT_FOUND,
      `The model '${model}' does not exist or no connector serves it. Available: ${known.length ? known.join(', ') : '(none)'}`,
      { details: { param: 'model', code: 'model_not_found', available: known } },
    );
  }

  private async attempts(call: ProxyCall, candidates: Upstream[], upstreamModel: string, deadline: Deadline): Promise<Answer> {
    const stopped = (): PatchbayError => {
      const reason: unknown = deadline.reason;
      if (isPatchbayError(reason)) return reason;
      return new PatchbayError(ErrorCode.CANCELLED, 'client disconnected');
    };
    let attempts = 0;
    let last: { failure: AttemptFailure; upstream: Upstream } | undefined;
    let restingMs = Infinity;
    let circuitOpen = false;

    for (let index = 0; index < candidates.length; index++) {
      const upstream = candidates[index] as Upstream;
      const others = (): boolean => candidates.slice(index + 1).some((u) => u.unavailableForMs(Date.now()) === 0);
      let retries = 0;
      for (;;) {
        if (deadline.aborted) throw stopped();
        if (attempts >= this.settings.maxAttempts) return this.exhausted(last, attempts, restingMs, circuitOpen);
        const cooling = upstream.cooldownUntil - Date.now();
        if (cooling > 0) {
          // The upstream asked for a pause: wait in place only if nobody else can serve and it is short.
          if (others() || cooling > this.settings.maxRetryWaitMs || cooling >= deadline.remainingMs) {
            restingMs = Math.min(restingMs, cooling);
            break;
          }
          await sleep(cooling, deadline.signal).catch(() => undefined);
          if (deadline.aborted) throw stopped();
        }
        attempts++;
        try {
          return await upstream.breaker.execute(() => this.attempt(call, upstream, upstreamModel, deadline, attempts));
        } catch (error) {
          if (isPatchbayError(error) && error.code === ErrorCode.CIRCUIT_OPEN) {
            attempts--;
            circuitOpen = true;
            restingMs = Math.min(restingMs, (error.retryAfterSeconds ?? 1) * 1000);
            break;
          }
          if (deadline.aborted) throw stopped();
          const failure = classifyError(error);
          last = { failure, upstream };
          upstream.moveTo(ConnectionState.RETRYING, failure.kind);
          this.logger.warn(
            { configId: upstream.configId, attempt: attempts, kind: failure.kind, status: failure.status, message: failure.message },
            'upstream attempt failed',
          );
          if (failure.kind === FailureKind.RATE_LIMITED) {
            upstream.cooldownUntil = Date.now() + (failure.retryAfterMs ?? 1000);
            continue; // the cool-down check above decides: wait here or fail over
          }
          if (failure.retrySameConnector && retries < upstream.options.maxRetries) {
            retries++;
            const delay = computeBackoff(retries, {
              initialDelayMs: this.settings.retryBaseMs,
              maxDelayMs: this.settings.retryMaxMs,
              multiplier: 2,
              jitter: 'equal',
            });
            if (delay < deadline.remainingMs) {
              this.metrics.retry(upstream.configId, failure.kind);
              await sleep(delay, deadline.signal).catch(() => undefined);
              continue;
            }
          }
          break;
        }
      }
      if (index + 1 < candidates.length) this.metrics.failover(upstream.configId, last?.upstream === upstream ? last.failure.kind : 'resting');
    }
    return this.exhausted(last, attempts, restingMs, circuitOpen);
  }

  private exhausted(
    last: { failure: AttemptFailure; upstream: Upstream } | undefined,
    attempts: number,
    restingMs: number,
    circuitOpen: boolean,
  ): never {
    if (last && last.failure.kind !== FailureKind.RATE_LIMITED) throw exhaustedError(last.failure, last.upstream.configId, attempts);
    if (!Number.isFinite(restingMs)) {
      if (last) throw exhaustedError(last.failure, last.upstream.configId, attempts);
      throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'no connector could take the request', { details: { attempts }, retryAfterSeconds: 1 });
    }
    const retryAfterSeconds = Math.max(1, Math.ceil(restingMs / 1000));
    if (!circuitOpen) {
      throw new PatchbayError(ErrorCode.RATE_LIMITED, `every connector for this model is rate limited; retry in ${retryAfterSeconds} s`, {
        details: { attempts, ...(last ? { connector: last.upstream.configId } : {}) },
        retryAfterSeconds,
      });
    }
    throw new PatchbayError(ErrorCode.CIRCUIT_OPEN, `every connector for this model is unavailable (circuit open); retry in ${retryAfterSeconds} s`, {
      details: { attempts, code: 'all_upstreams_unavailable' },
      retryAfterSeconds,
    });
  }

  /** One request to one upstream. Resolves with an answer to commit; throws AttemptFailure to retry or fail over. */
  private async attempt(call: ProxyCall, upstream: Upstream, model: string, deadline: Deadline, attempts: number): Promise<Answer> {
    const options = upstream.options;
    const stream = call.body.stream;
    const injectUsage = stream && !call.body.clientWantsUsage && options.streamUsage && call.endpoint !== 'embeddings';
    const headers: Record<string, string> = {
      ...upstream.spec.headers,
      'content-type': 'application/json',
      accept: stream ? 'text/event-stream' : 'application/json',
      'accept-encoding': 'identity',
    };
    if (call.traceparent) headers['traceparent'] = call.traceparent;
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
      const response = await upstream.pool.request({
        path: `${upstream.basePath}/${call.endpoint}`,
        method: 'POST',
        headers,
        body: upstreamBody(call.body, model, injectUsage),
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
          upstream.moveTo(ConnectionState.ACTIVE);
          return { kind: 'json', upstream, attempts, status, headers: passHeaders(response.headers), body: scrub(body, upstream.spec.apiKey), usage: undefined, answeredAt: performance.now() };
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
        if (first !== 0x7b && first !== 0x5b) throw new AttemptFailure(FailureKind.BAD_RESPONSE, `upstream answered ${status} with a body that is not JSON`, status);
        this.metrics.upstream(upstream.configId, String(status), (performance.now() - started) / 1000);
        upstream.moveTo(ConnectionState.ACTIVE);
        return { kind: 'json', upstream, attempts, status, headers: passHeaders(response.headers), body, usage: usageFromJsonBody(body), answeredAt: performance.now() };
      }
      let first = await firstChunk(response.body);
      let body: Readable = response.body;
      const answerHeaders = passHeaders(response.headers);
      if (!isEventStream(response.headers['content-type'])) {
        const lead = firstNonSpace(first);
        if (lead === 0x7b || lead === 0x5b) {
          // The upstream ignored `stream: true` (or failed in plain JSON): relay what it means, as SSE.
          const converted = jsonAsSse(await readRest(first, response.body), injectUsage || call.body.clientWantsUsage);
          if (converted.kind === 'error') {
            const message = scrub(Buffer.from(converted.message), upstream.spec.apiKey).toString('utf8');
            throw new AttemptFailure(FailureKind.BAD_RESPONSE, `upstream answered ${status} with an error instead of a stream: ${message}`, status);
          }
          if (converted.kind === 'unknown') throw new AttemptFailure(FailureKind.BAD_RESPONSE, `upstream answered a streaming request with JSON that is not a completion`, status);
          first = converted.bytes;
          body = Readable.from([]);
          delete answerHeaders['content-type'];
        }
      }
      committed = true;
      if (!controller) throw new Error('unreachable: streams have a controller');
      upstream.moveTo(ConnectionState.ACTIVE);
      return {
        kind: 'stream',
        upstream,
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
      if (reason !== undefined) throw reason;
      throw classifyError(error);
    } finally {
      if (firstByteTimer) clearTimeout(firstByteTimer);
      if (!committed && controller) deadline.signal.removeEventListener('abort', onDeadline);
    }
  }

  /**
   * Relays a committed stream to `sink`, unbuffered: events go out as they complete.
   * A cut, stall (idle timeout) or an end without `[DONE]` becomes `sink.fail`; the
   * connector's breaker counts it. Resolves when the stream is over, with its usage.
   */
  relay(answer: StreamAnswer, sink: StreamSink): Promise<{ usage: Usage | undefined; ok: boolean }> {
    const { body, upstream, deadline } = answer;
    const started = performance.now();
    const relay = new SseRelay({
      stripUsageChunk: answer.stripUsage,
      emit: (bytes) => {
        if (!sink.write(bytes)) {
          body.pause();
          sink.onDrain(() => body.resume());
        }
      },
    });
    return new Promise((resolve) => {
      let settled = false;
      const finish = (ok: boolean, error?: PatchbayError): void => {
        if (settled) return;
        settled = true;
        body.off('data', onData);
        deadline.dispose();
        this.metrics.upstream(upstream.configId, ok ? String(answer.status) : 'interrupted', (performance.now() - started) / 1000);
        if (ok) sink.end();
        else if (error) sink.fail(error);
        resolve({ usage: relay.usage, ok });
      };
      const onData = (chunk: Buffer): void => relay.push(chunk);
      const broken = (message: string, cause?: unknown): void => {
        const failure = new AttemptFailure(FailureKind.NETWORK, message);
        if (answer.controller.signal.aborted && !(answer.controller.signal.reason instanceof AttemptFailure)) {
          // The client left or the deadline passed: not the upstream's fault.
          const reason: unknown = answer.controller.signal.reason;
          finish(false, isPatchbayError(reason) ? reason : new PatchbayError(ErrorCode.CANCELLED, 'client disconnected'));
          return;
        }
        upstream.moveTo(ConnectionState.RETRYING, 'stream interrupted');
        void upstream.breaker.execute(() => Promise.reject(failure)).catch(() => undefined);
        this.logger.warn({ configId: upstream.configId, message, err: cause }, 'upstream stream interrupted');
        finish(false, new PatchbayError(ErrorCode.UPSTREAM_ERROR, `${message} (connector '${upstream.configId}')`, { details: { code: 'upstream_stream_interrupted' } }));
      };
      const onError = (error: unknown): void => {
        const kind = classifyError(error);
        broken(kind.kind === FailureKind.TIMEOUT ? `upstream stream stalled: ${kind.message}` : `upstream stream was cut: ${kind.message}`, error);
      };
      const onEnd = (): void => {
        relay.finish();
        if (relay.sawDone) finish(true);
        else broken('upstream stream ended without [DONE]');
      };
      relay.push(answer.first);
      // A body that fit into the first chunk may have ended (or failed) before these listeners.
      if (body.errored) return onError(body.errored);
      if (body.readableEnded) return onEnd();
      body.on('data', onData);
      body.once('error', onError);
      body.once('end', onEnd);
      body.resume();
    });
  }

  /** Whether a breaker currently lets calls through (for readiness details). */
  static usable(upstream: Upstream): boolean {
    return upstream.breaker.state !== BreakerState.OPEN && upstream.breaker.state !== BreakerState.FORCED_OPEN;
  }
}
