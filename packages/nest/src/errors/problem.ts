import { randomUUID } from 'node:crypto';
import { HttpException } from '@nestjs/common';
import { ErrorCode, PatchbayError, httpStatusFor, isPatchbayError } from '@patchbay/core';

/** An RFC 9457 problem document, with Patchbay's `code` and `errorId` extensions. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  /** Present on 5xx: quote it when reporting; the server log has the same id. */
  errorId?: string;
  details?: Record<string, unknown>;
}

/** Turns a library/driver error into a PatchbayError, or returns undefined to pass. */
export type ErrorMapper = (error: unknown) => PatchbayError | undefined;

const TITLES: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.VALIDATION]: 'Invalid request',
  [ErrorCode.PAYLOAD_TOO_LARGE]: 'Request body too large',
  [ErrorCode.REQUEST_TIMEOUT]: 'Request timeout',
  [ErrorCode.URI_TOO_LONG]: 'URI too long',
  [ErrorCode.HEADERS_TOO_LARGE]: 'Request headers too large',
  [ErrorCode.UNAUTHORIZED]: 'Unauthorized',
  [ErrorCode.FORBIDDEN]: 'Forbidden',
  [ErrorCode.NOT_FOUND]: 'Not found',
  [ErrorCode.CONFLICT]: 'Conflict',
  [ErrorCode.INTERNAL]: 'Internal error',
};

const STATUS_CODES: Record<number, ErrorCode> = {
  400: ErrorCode.VALIDATION,
  401: ErrorCode.UNAUTHORIZED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  405: ErrorCode.VALIDATION,
  408: ErrorCode.REQUEST_TIMEOUT,
  409: ErrorCode.CONFLICT,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  414: ErrorCode.URI_TOO_LONG,
  415: ErrorCode.VALIDATION,
  422: ErrorCode.UNPROCESSABLE,
  429: ErrorCode.RATE_LIMITED,
  503: ErrorCode.UNAVAILABLE,
  504: ErrorCode.TIMEOUT,
};

function hasStatusCode(error: unknown): error is { statusCode: number; message: string; code?: string } {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { statusCode?: unknown }).statusCode === 'number' &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

/** The longest path parameter the kit's router accepts (Fastify's `maxParamLength`). */
export const MAX_PARAM_LENGTH = 100;

/** Messages for framework errors, rewritten to say what the caller should fix. */
function frameworkMessage(error: { statusCode: number; message: string; code?: string }, bodyLimit?: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body is larger than the limit${bodyLimit ? ` of ${bodyLimit} bytes` : ''}`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported Content-Type: send application/json';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'Content-Type is application/json but the body is empty';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return `malformed JSON body: ${error.message}`;
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`;
    case 'FST_ERR_BAD_URL':
      return 'the URL path is not valid percent-encoding';
    default:
      if (error.statusCode === 400 && /JSON/i.test(error.message)) return `malformed JSON body: ${error.message}`;
      return error.message;
  }
}

/**
 * Normalises any thrown value into a PatchbayError. Known 4xx framework errors keep
 * their status; everything unknown becomes INTERNAL.
 */
export function toPatchbayError(error: unknown, mappers: readonly ErrorMapper[] = [], bodyLimit?: number): PatchbayError {
  if (isPatchbayError(error)) return error;
  for (const mapper of mappers) {
    const mapped = mapper(error);
    if (mapped) return mapped;
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const message = typeof response === 'object' && response !== null && 'message' in response ? String(response.message) : error.message;
    return new PatchbayError(STATUS_CODES[status] ?? (status < 500 ? ErrorCode.VALIDATION : ErrorCode.INTERNAL), message, {
      cause: error,
    });
  }
  if (hasStatusCode(error) && error.statusCode >= 400 && error.statusCode < 500) {
    return new PatchbayError(STATUS_CODES[error.statusCode] ?? ErrorCode.VALIDATION, frameworkMessage(error, bodyLimit), {
      cause: error,
    });
  }
  return new PatchbayError(ErrorCode.INTERNAL, 'internal error', { cause: error });
}

/** Builds the problem document (and a fresh errorId for 5xx). */
export function toProblem(error: PatchbayError, instance?: string): ProblemDocument {
  const status = httpStatusFor(error.code);
  const problem: ProblemDocument = {
    type: `https://patchbay.dev/problems/${error.code.toLowerCase().replace(/_/g, '-')}`,
    title: TITLES[error.code] ?? error.code.toLowerCase().replace(/_/g, ' '),
    status,
    detail: status >= 500 && error.code === ErrorCode.INTERNAL ? 'internal error; quote the errorId when reporting' : error.message,
    code: error.code,
  };
  if (instance) problem.instance = instance;
  if (error.details && status < 500) problem.details = error.details;
  if (status >= 500) problem.errorId = randomUUID();
  return problem;
}
