import { ErrorCode, httpStatusFor, type PatchbayError } from '@patchbay/core';
import type { ErrorRenderer, ProblemDocument, RenderedError } from '@patchbay/nest';

/** OpenAI's error body: what the official SDKs parse into `APIError`. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null; errorId?: string };
}

const TYPES: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.VALIDATION]: 'invalid_request_error',
  [ErrorCode.PAYLOAD_TOO_LARGE]: 'invalid_request_error',
  [ErrorCode.NOT_FOUND]: 'invalid_request_error',
  [ErrorCode.UNPROCESSABLE]: 'invalid_request_error',
  [ErrorCode.CONFLICT]: 'invalid_request_error',
  [ErrorCode.PRECONDITION_FAILED]: 'invalid_request_error',
  [ErrorCode.CANCELLED]: 'invalid_request_error',
  [ErrorCode.UNAUTHORIZED]: 'authentication_error',
  [ErrorCode.FORBIDDEN]: 'permission_error',
  [ErrorCode.RATE_LIMITED]: 'rate_limit_error',
};

const CODES: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.UNAUTHORIZED]: 'invalid_api_key',
  [ErrorCode.RATE_LIMITED]: 'rate_limit_exceeded',
  [ErrorCode.CIRCUIT_OPEN]: 'all_upstreams_unavailable',
  [ErrorCode.TIMEOUT]: 'timeout',
  [ErrorCode.PAYLOAD_TOO_LARGE]: 'request_too_large',
};

function stringDetail(error: PatchbayError, key: string): string | undefined {
  const value = error.details?.[key];
  return typeof value === 'string' ? value : undefined;
}

/** The first field a schema check rejected (the kit's validation errors list them as `issues`). */
function firstIssuePath(error: PatchbayError): string | undefined {
  const issues = error.details?.['issues'];
  if (!Array.isArray(issues)) return undefined;
  const first: unknown = issues[0];
  const path = typeof first === 'object' && first !== null ? (first as { path?: unknown }).path : undefined;
  return typeof path === 'string' && path.length > 0 ? path : undefined;
}

/** Maps a PatchbayError to OpenAI's error shape, plus the proxy's `x-patchbay-*` headers. */
export function openAiError(error: PatchbayError, errorId?: string): { status: number; body: OpenAiErrorBody; headers: Record<string, string> } {
  const status = httpStatusFor(error.code);
  const message = error.code === ErrorCode.INTERNAL ? `internal error; quote errorId ${errorId ?? '(none)'} when reporting` : error.message;
  const headers: Record<string, string> = {};
  const attempts = error.details?.['attempts'];
  if (typeof attempts === 'number') headers['x-patchbay-attempts'] = String(attempts);
  const connector = stringDetail(error, 'connector');
  if (connector) headers['x-patchbay-connector'] = connector;
  if (errorId) headers['x-patchbay-error-id'] = errorId;
  // Every 503 says when to come back; an error that knows better sets retryAfterSeconds (the edges send it).
  if (status === 503) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds ?? 1)));
  return {
    status,
    headers,
    body: {
      error: {
        message,
        type: TYPES[error.code] ?? 'server_error',
        param: stringDetail(error, 'param') ?? firstIssuePath(error) ?? null,
        code: stringDetail(error, 'code') ?? CODES[error.code] ?? error.code.toLowerCase(),
        // A 5xx names the log line that explains it (SDKs ignore fields they do not know).
        ...(errorId ? { errorId } : {}),
      },
    },
  };
}

/** Renders the kit's errors on `/v1/...` in OpenAI's shape instead of problem+json. */
export const openAiErrorRenderer: ErrorRenderer = {
  matches: (path: string) => path.startsWith('/v1/'),
  render(error: PatchbayError, problem: ProblemDocument): RenderedError {
    const rendered = openAiError(error, problem.errorId);
    return { status: rendered.status, contentType: 'application/json', body: rendered.body, headers: rendered.headers };
  },
};
