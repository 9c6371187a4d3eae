import { ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';

/** Error codes (Node's and undici's) meaning the request never got an answer from a live connection. */
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function codeOf(error: unknown): string | undefined {
  // Not `instanceof Error`: errors made by Node's internals may come from another realm (jest).
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** The upstream answered 5xx: counted against the breaker, retried when 502/503/504 and the request allows. */
export class UpstreamStatusError extends Error {
  override readonly name = 'UpstreamStatusError';
  constructor(
    readonly status: number,
    /** The upstream's `Retry-After`, in ms. */
    readonly retryAfterMs: number | undefined,
    /** True once the answer went to the caller as is: nothing is left to send. */
    readonly relayed: boolean,
  ) {
    super(`upstream answered ${status}`);
  }
}

/** The caller's side broke (its upload was cut, or said one length and sent another): not the upstream's fault. */
export class CallerBodyError extends Error {
  override readonly name = 'CallerBodyError';
}

/** A lost or refused connection, before any answer: safe to retry for an idempotent request. */
export function isConnectionError(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && CONNECTION_CODES.has(code);
}

/** True when the error is the caller's own: neither retried nor counted against the upstream. */
export function isCallerError(error: unknown): boolean {
  if (error instanceof CallerBodyError) return true;
  if (codeOf(error) === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') return true;
  return isPatchbayError(error) && (error.code === ErrorCode.PAYLOAD_TOO_LARGE || error.code === ErrorCode.VALIDATION || error.code === ErrorCode.CANCELLED);
}

/** What the caller gets for a failed exchange that has not answered yet (problem+json at the edge). */
export function toCallerError(error: unknown, configId: string): PatchbayError {
  if (isPatchbayError(error)) return error;
  if (error instanceof UpstreamStatusError) {
    const retryAfterSeconds = error.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(error.retryAfterMs / 1000));
    const code = error.status === 504 ? ErrorCode.TIMEOUT : error.status === 503 ? ErrorCode.UPSTREAM_UNAVAILABLE : ErrorCode.UPSTREAM_ERROR;
    return new PatchbayError(code, `api connector '${configId}' answered ${error.status}`, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
  }
  if (error instanceof CallerBodyError) return PatchbayError.validation(error.message);
  const code = codeOf(error);
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') return PatchbayError.validation('the request body does not match its content-length');
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    const what = code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect' : code === 'UND_ERR_HEADERS_TIMEOUT' ? 'answer' : 'respond';
    return new PatchbayError(ErrorCode.TIMEOUT, `api connector '${configId}' did not ${what} in time`, { cause: error });
  }
  if (isConnectionError(error)) {
    return new PatchbayError(ErrorCode.UPSTREAM_ERROR, `api connector '${configId}' could not be reached (${code})`, { cause: error });
  }
  return new PatchbayError(ErrorCode.UPSTREAM_ERROR, `the request to api connector '${configId}' failed`, { cause: error });
}
