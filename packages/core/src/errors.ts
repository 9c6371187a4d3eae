/**
 * Stable error codes. The string values are part of the wire contract (problem+json
 * `code`, gRPC details, logs) and never change meaning once released.
 */
export enum ErrorCode {
  VALIDATION = 'VALIDATION',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  /** The request (headers and body) did not arrive within the server's bound. */
  REQUEST_TIMEOUT = 'REQUEST_TIMEOUT',
  URI_TOO_LONG = 'URI_TOO_LONG',
  HEADERS_TOO_LARGE = 'HEADERS_TOO_LARGE',
  UNAUTHORIZED = 'UNAUTHORIZED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  CONFLICT = 'CONFLICT',
  PRECONDITION_FAILED = 'PRECONDITION_FAILED',
  UNPROCESSABLE = 'UNPROCESSABLE',
  RATE_LIMITED = 'RATE_LIMITED',
  POOL_EXHAUSTED = 'POOL_EXHAUSTED',
  CIRCUIT_OPEN = 'CIRCUIT_OPEN',
  TIMEOUT = 'TIMEOUT',
  CANCELLED = 'CANCELLED',
  UPSTREAM_UNAVAILABLE = 'UPSTREAM_UNAVAILABLE',
  UPSTREAM_ERROR = 'UPSTREAM_ERROR',
  UNAVAILABLE = 'UNAVAILABLE',
  INTERNAL = 'INTERNAL',
}

/** The one place error codes map to HTTP status codes. */
const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  [ErrorCode.VALIDATION]: 400,
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413,
  [ErrorCode.REQUEST_TIMEOUT]: 408,
  [ErrorCode.URI_TOO_LONG]: 414,
  [ErrorCode.HEADERS_TOO_LARGE]: 431,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.CONFLICT]: 409,
  [ErrorCode.PRECONDITION_FAILED]: 412,
  [ErrorCode.UNPROCESSABLE]: 422,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.POOL_EXHAUSTED]: 503,
  [ErrorCode.CIRCUIT_OPEN]: 503,
  [ErrorCode.TIMEOUT]: 504,
  [ErrorCode.CANCELLED]: 499,
  [ErrorCode.UPSTREAM_UNAVAILABLE]: 503,
  [ErrorCode.UPSTREAM_ERROR]: 502,
  [ErrorCode.UNAVAILABLE]: 503,
  [ErrorCode.INTERNAL]: 500,
};

/** Returns the HTTP status for an error code. */
export function httpStatusFor(code: ErrorCode): number {
  return HTTP_STATUS[code];
}

/** Extra, non-secret facts about an error that may be shown to the caller. */
export interface PatchbayErrorOptions {
  /** Machine-readable details (field errors, limits). Never put secrets here. */
  details?: Record<string, unknown>;
  /** Seconds after which a retry may succeed; becomes `Retry-After`. */
  retryAfterSeconds?: number;
  /** The underlying error, kept for logs only. */
  cause?: unknown;
}

/**
 * The one local error type of Patchbay. Edges (HTTP filters, gRPC, OpenAI and JSON-RPC
 * adapters) map it to their wire shape; nothing below the edge builds wire errors.
 */
export class PatchbayError extends Error {
  override readonly name = 'PatchbayError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: PatchbayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The HTTP status this error maps to. */
  get status(): number {
    return httpStatusFor(this.code);
  }

  static notFound(what: string, options?: PatchbayErrorOptions): PatchbayError {
    return new PatchbayError(ErrorCode.NOT_FOUND, `${what} was not found`, options);
  }

  static validation(message: string, details?: Record<string, unknown>): PatchbayError {
    return new PatchbayError(ErrorCode.VALIDATION, message, details ? { details } : {});
  }
}

/** True when `error` is a PatchbayError (also across duplicated module copies). */
export function isPatchbayError(error: unknown): error is PatchbayError {
  return error instanceof PatchbayError || (error instanceof Error && error.name === 'PatchbayError' && 'code' in error && typeof error.code === 'string');
}
