import { ErrorCode, type PatchbayError } from '@patchbay/core';
import type { ErrorRenderer, ProblemDocument, RenderedError } from '@patchbay/nest';
import { openAiError } from '../../http/openai-errors';

/** Anthropic's error body, as its SDKs parse it. */
export interface AnthropicErrorBody {
  type: 'error';
  error: { type: string; message: string; errorId?: string };
}

/** Anthropic's error type for an HTTP status (its documented table). */
export function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 402) return 'billing_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout_error';
  if (status === 503 || status === 529) return 'overloaded_error';
  // "may also be used for other 4XX status codes not listed"
  if (status >= 400 && status < 500) return 'invalid_request_error';
  return 'api_error';
}

/** A PatchbayError in Anthropic's shape; the status and headers (retry-after, x-patchbay-*) as on the OpenAI routes. */
export function anthropicError(error: PatchbayError, errorId?: string): { status: number; body: AnthropicErrorBody; headers: Record<string, string> } {
  const rendered = openAiError(error, errorId);
  const field = rendered.body.error.param;
  // Anthropic messages name the field at the front (`messages.0.content: ...`).
  const message =
    error.code === ErrorCode.VALIDATION && field && !rendered.body.error.message.includes(field)
      ? `${field}: ${rendered.body.error.message}`
      : rendered.body.error.message;
  return {
    status: rendered.status,
    headers: rendered.headers,
    body: { type: 'error', error: { type: anthropicErrorType(rendered.status), message, ...(errorId ? { errorId } : {}) } },
  };
}

/** Renders the kit's errors on `/v1/messages` in Anthropic's shape. */
export const anthropicErrorRenderer: ErrorRenderer = {
  matches: (path: string) => path.startsWith('/v1/messages'),
  render(error: PatchbayError, problem: ProblemDocument): RenderedError {
    const rendered = anthropicError(error, problem.errorId);
    return { status: rendered.status, contentType: 'application/json', body: rendered.body, headers: rendered.headers };
  },
};
