import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { Deadline, ErrorCode, PatchbayError, parseRetryAfter, retry } from '@patchbay/core';
import type { Dispatcher } from 'undici';
import type { ApiUpstream, UpstreamAccess } from './api-spec';
import { callerResponseHeaders, upstreamRequestHeaders } from './header-policy';
import { RequestBody } from './request-body';
import { attemptsFor, retryStatus, type RetryTiming } from './retry-policy';
import { isConnectionError, toCallerError, UpstreamStatusError } from './upstream-errors';
import { upstreamPath } from './upstream-url';

/** One caller request to forward. */
export interface Exchange {
  method: string;
  /** The raw path and query after the route's prefix (`/a/b?x=1`), as the caller encoded it. */
  rest: string;
  request: IncomingMessage;
  response: ServerResponse;
  /** Aborts when the caller goes away. */
  signal: AbortSignal;
  /** Sent upstream so the trace continues there. */
  traceparent: string;
}

/** Time from sending to the upstream's response headers, for the caller's own latency split. */
export const UPSTREAM_MS_HEADER = 'x-patchbay-upstream-ms';

/**
 * Forwards one request and writes the upstream's answer, status and body as they come.
 * Retries idempotent requests on connection errors and 502/503/504 (with backoff, within
 * the total time limit) while the request body is still unread; every attempt goes
 * through `access.use`, so the breaker counts it and a swap redirects it.
 *
 * @throws PatchbayError when nothing was sent yet: TIMEOUT (504) past a time limit,
 *   UPSTREAM_ERROR (502) when the upstream could not be reached, PAYLOAD_TOO_LARGE (413),
 *   VALIDATION (400), or the gate's own (CIRCUIT_OPEN, ...). After the head was sent a
 *   failure cuts the response short instead, which the caller sees as an incomplete body.
 */
export async function forward(exchange: Exchange, access: UpstreamAccess, timing: RetryTiming): Promise<void> {
  const spec = access.spec;
  if (exchange.method === 'CONNECT') throw PatchbayError.validation('CONNECT is not forwarded');
  const body = RequestBody.present(exchange.request) ? new RequestBody(exchange.request, spec.bodyLimitBytes) : undefined;
  const maxAttempts = attemptsFor(exchange.method, spec.maxRetries);
  const deadline = new Deadline(spec.totalTimeoutMs > 0 ? spec.totalTimeoutMs : Infinity, { signal: exchange.signal });

  const attempt = async (upstream: ApiUpstream, attemptNo: number, signal: AbortSignal): Promise<void> => {
    const sentAt = performance.now();
    const answer = await upstream.dispatcher.request({
      path: upstreamPath(upstream.spec.base, exchange.rest),
      method: exchange.method,
      headers: { ...upstreamRequestHeaders(exchange.request.headers, upstream.spec.injected), traceparent: exchange.traceparent },
      body: body ? body.stream() : null,
      signal,
    });
    const upstreamMs = performance.now() - sentAt;
    if (answer.statusCode < 500) return relay(answer, upstreamMs);
    const retryAfterMs = parseRetryAfter(answer.headers, Date.now());
    if (attemptNo < maxAttempts && body?.untouched !== false && retryStatus(answer.statusCode, retryAfterMs, timing)) {
      await answer.body.dump();
      throw new UpstreamStatusError(answer.statusCode, retryAfterMs, false);
    }
    await relay(answer, upstreamMs);
    // Thrown after relaying so the breaker counts the upstream's 5xx; nothing more is sent.
    throw new UpstreamStatusError(answer.statusCode, retryAfterMs, true);
  };

  const relay = async (answer: Dispatcher.ResponseData, upstreamMs: number): Promise<void> => {
    const headers = callerResponseHeaders(answer.headers);
    headers[UPSTREAM_MS_HEADER] = upstreamMs.toFixed(1);
    exchange.response.writeHead(answer.statusCode, headers);
    await pipeline(answer.body, exchange.response);
  };

  try {
    await retry(({ attempt: attemptNo, signal }) => access.use((upstream) => attempt(upstream, attemptNo, signal), signal), {
      maxAttempts,
      initialDelayMs: timing.initialDelayMs,
      maxDelayMs: timing.maxDelayMs,
      signal: deadline.signal,
      retryable: (error) => body?.untouched !== false && !exchange.response.headersSent && (error instanceof UpstreamStatusError || isConnectionError(error)),
      retryAfterMs: (error) => (error instanceof UpstreamStatusError ? error.retryAfterMs : undefined),
    });
  } catch (error) {
    if (error instanceof UpstreamStatusError && error.relayed) return;
    if (exchange.response.headersSent) {
      // Mid-body: the only honest signal left is an incomplete response.
      exchange.response.destroy();
      return;
    }
    if (deadline.expired) {
      throw new PatchbayError(ErrorCode.TIMEOUT, `api connector '${spec.configId}' did not answer within ${spec.totalTimeoutMs} ms`);
    }
    throw toCallerError(error, spec.configId);
  } finally {
    deadline.dispose();
  }
}
