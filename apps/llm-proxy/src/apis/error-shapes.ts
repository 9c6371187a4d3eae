import { anthropicErrorType } from './messages/anthropic-errors';
import { isObject, parseJsonObject, type Json } from './sse';
import type { WireApi } from './wire-api';

interface UpstreamError {
  message: string;
  type: string | undefined;
  param: string | null;
  code: string | null;
}

/** Reads an upstream's error body, in OpenAI's (`{error: {message, type, param, code}}`) or Anthropic's (`{type: 'error', error: {type, message}}`) shape. */
function readUpstreamError(body: Buffer, status: number): UpstreamError {
  const json = parseJsonObject(body.toString('utf8'));
  const error = json && isObject(json['error']) ? json['error'] : undefined;
  if (!error) return { message: `upstream answered ${status}`, type: undefined, param: null, code: null };
  const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
  return {
    message: str(error['message']) ?? `upstream answered ${status}`,
    type: str(error['type']) ?? undefined,
    param: str(error['param']),
    code: str(error['code']),
  };
}

/** An upstream's 4xx body in the caller's API shape (the status stays the upstream's). */
export function errorBodyFor(client: WireApi, body: Buffer, status: number): Json {
  const error = readUpstreamError(body, status);
  if (client === 'messages' || client === 'count_tokens') return { type: 'error', error: { type: anthropicErrorType(status), message: error.message } };
  return { error: { message: error.message, type: error.type ?? 'invalid_request_error', param: error.param, code: error.code } };
}
