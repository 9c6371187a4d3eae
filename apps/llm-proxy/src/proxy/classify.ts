import { ErrorCode, PatchbayError } from '@patchbay/core';

/** Why one upstream attempt failed; decides retry, failover and the breaker. */
export enum FailureKind {
  NETWORK = 'network',
  TIMEOUT = 'timeout',
  SERVER = 'server',
  RATE_LIMITED = 'rate_limited',
  /** 401/402/403 or an exhausted quota: our credentials, not the request. */
  AUTH = 'auth',
  BAD_RESPONSE = 'bad_response',
}

/** A failed attempt on one connector. Carries no upstream body: it may echo the key. */
export class AttemptFailure extends Error {
  override readonly name = 'AttemptFailure';
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
    /** From `retry-after-ms` / `retry-after`, in ms. */
    readonly retryAfterMs?: number,
    /** No connection could be made at all (refused, no route, DNS, connect timeout): the target is down. */
    readonly unreachable = false,
  ) {
    super(message);
  }

  /** Worth another try on the same connector after a backoff. */
  get retrySameConnector(): boolean {
    return this.kind === FailureKind.NETWORK || this.kind === FailureKind.SERVER || this.kind === FailureKind.BAD_RESPONSE;
  }

  /** Counts against the connector's breaker (a 429 is the upstream protecting itself, not sickness). */
  get countsAgainstBreaker(): boolean {
    return this.kind !== FailureKind.RATE_LIMITED;
  }
}

export type StatusClass = 'ok' | 'verbatim' | FailureKind;

const VERBATIM_STATUSES = new Set([400, 404, 409, 413, 415, 422]);

/** Classifies an upstream HTTP status (the 429 body decides quota vs rate limit). */
export function classifyStatus(status: number, body?: Buffer): StatusClass {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 429) return body && body.includes('insufficient_quota') ? FailureKind.AUTH : FailureKind.RATE_LIMITED;
  if (status === 401 || status === 402 || status === 403) return FailureKind.AUTH;
  if (status === 408 || status >= 500) return FailureKind.SERVER;
  if (VERBATIM_STATUSES.has(status) || (status >= 400 && status < 500)) return 'verbatim';
  return FailureKind.BAD_RESPONSE;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
/** Errors of connecting, as opposed to a connection lost mid-request (reset, closed socket): those retry as usual. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

function codeOf(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** Classifies a thrown transport error (undici, sockets, parser). */
export function classifyError(error: unknown): AttemptFailure {
  if (error instanceof AttemptFailure) return error;
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code && TIMEOUT_CODES.has(code)) {
    const what = code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect' : code === 'UND_ERR_HEADERS_TIMEOUT' ? 'first byte' : 'idle between chunks';
    return new AttemptFailure(FailureKind.TIMEOUT, `upstream timed out (${what})`, undefined, undefined, UNREACHABLE_CODES.has(code));
  }
  if (code?.startsWith('HPE_') || (error instanceof Error && error.name === 'HTTPParserError')) {
    return new AttemptFailure(FailureKind.BAD_RESPONSE, `upstream sent a malformed HTTP response (${code ?? 'parse error'})`);
  }
  return new AttemptFailure(
    FailureKind.NETWORK,
    `upstream unreachable: ${code ?? message}`,
    undefined,
    undefined,
    code !== undefined && UNREACHABLE_CODES.has(code),
  );
}

/** The error a client gets when every attempt failed; the last failure decides. */
export function exhaustedError(failure: AttemptFailure, connector: string, attempts: number): PatchbayError {
  const details = { connector, attempts, reason: failure.kind };
  const tried = `after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
  switch (failure.kind) {
    case FailureKind.RATE_LIMITED:
      return new PatchbayError(ErrorCode.RATE_LIMITED, `upstream '${connector}' is rate limited (429) ${tried}`, {
        details,
        retryAfterSeconds: Math.max(1, Math.ceil((failure.retryAfterMs ?? 1000) / 1000)),
      });
    case FailureKind.TIMEOUT:
      return new PatchbayError(ErrorCode.TIMEOUT, `${failure.message} on '${connector}' ${tried}`, { details });
    case FailureKind.AUTH:
      return new PatchbayError(
        ErrorCode.UPSTREAM_ERROR,
        `upstream '${connector}' rejected the proxy's credentials or quota (${failure.status ?? 'auth'}) ${tried}`,
        { details },
      );
    case FailureKind.NETWORK:
      // A 503: clients and load balancers need to know when to come back.
      return new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `${failure.message} ('${connector}') ${tried}`, { details, retryAfterSeconds: 1 });
    default:
      return new PatchbayError(ErrorCode.UPSTREAM_ERROR, `${failure.message} ('${connector}') ${tried}`, { details });
  }
}
