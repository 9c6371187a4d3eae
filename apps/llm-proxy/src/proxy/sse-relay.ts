import type { WireApi } from '../apis/wire-api';
import { usageFrom, type Usage } from './usage';

const LF_LF = Buffer.from('\n\n');
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const DONE = Buffer.from('[DONE]');
const USAGE = Buffer.from('"usage"');
const NULL_USAGE = /"usage"\s*:\s*null/;
/** How a complete stream ends, per upstream API: OpenAI's `[DONE]`, Anthropic's `message_stop`, a final Responses event. */
const TERMINAL_TYPES: Partial<Record<WireApi, readonly string[]>> = {
  messages: ['message_stop'],
  responses: ['response.completed', 'response.incomplete', 'response.failed'],
};
const TYPE_FIELD = /"type"\s*:\s*"([^"]+)"/;
const EVENT_LINE = /^event:\s*(\S+)/m;

/** What an upstream said when it broke its own stream with an `error` event. */
export interface UpstreamStreamError {
  /** Anthropic's `error.type` (`overloaded_error`), a Responses error's `code`. */
  type: string;
  message: string;
}

export interface SseRelayOptions {
  /** Drop the usage-only chunk (empty `choices`) the proxy asked for on the client's behalf. */
  stripUsageChunk: boolean;
  /** Receives the bytes to forward, whole events only, unchanged. */
  emit: (bytes: Buffer) => void;
  /** The upstream's API (default chat): decides what marks the end of a complete stream. */
  api?: WireApi;
}

function boundary(buffer: Buffer, from: number): [number, number] {
  const lf = buffer.indexOf(LF_LF, from);
  const crlf = buffer.indexOf(CRLF_CRLF, from);
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return [crlf, crlf + 4];
  return lf >= 0 ? [lf, lf + 2] : [-1, -1];
}

function dataOf(event: string): string {
  let data = '';
  for (const line of event.split(/\r?\n/)) {
    if (line.startsWith('data:')) data += line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5);
  }
  return data;
}

/**
 * Frames an upstream SSE byte stream into events and forwards them as they complete,
 * byte for byte, while noting `[DONE]` and the `usage` chunk. Only the usage-only chunk
 * can be held back (when the client did not ask for it); nothing is ever re-encoded.
 */
export class SseRelay {
  usage: Usage | undefined;
  sawDone = false;
  /** The upstream's own in-band `error` event (Anthropic's `{type, message}`, a Responses `{code, message}`), if it sent one. */
  upstreamError: UpstreamStreamError | undefined;
  private carry: Buffer | undefined;

  constructor(private readonly options: SseRelayOptions) {}

  push(chunk: Buffer): void {
    const buffer = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = undefined;
    let runStart = 0;
    let cursor = 0;
    for (;;) {
      const [end, next] = boundary(buffer, cursor);
      if (end < 0) break;
      if (this.inspect(buffer.subarray(cursor, end))) {
        if (cursor > runStart) this.options.emit(buffer.subarray(runStart, cursor));
        runStart = next;
      }
      cursor = next;
    }
    if (cursor > runStart) this.options.emit(buffer.subarray(runStart, cursor));
    if (cursor < buffer.length) this.carry = buffer.subarray(cursor);
  }

  /** Forwards an unterminated trailing event, if any. */
  finish(): void {
    if (!this.carry) return;
    const rest = this.carry;
    this.carry = undefined;
    if (!this.inspect(rest)) this.options.emit(rest);
  }

  /** Returns true when the event must be dropped. */
  private inspect(event: Buffer): boolean {
    const terminal = this.options.api ? TERMINAL_TYPES[this.options.api] : undefined;
    if (terminal) {
      if (!this.sawDone) {
        // The `event:` name when there is one (both APIs send it); else the payload's first `type`.
        const text = event.toString('utf8');
        const type = EVENT_LINE.exec(text)?.[1] ?? TYPE_FIELD.exec(dataOf(text))?.[1];
        if (type !== undefined && terminal.includes(type)) this.sawDone = true;
        else if (type === 'error') this.upstreamError ??= streamErrorOf(dataOf(text));
      }
    } else if (!this.sawDone && event.indexOf(DONE) >= 0 && dataOf(event.toString('utf8')).trim() === '[DONE]') {
      this.sawDone = true;
      return false;
    }
    if (event.indexOf(USAGE) < 0) return false;
    const text = event.toString('utf8');
    if (NULL_USAGE.test(text)) return false;
    let payload: unknown;
    try {
      payload = JSON.parse(dataOf(text));
    } catch {
      return false;
    }
    if (typeof payload !== 'object' || payload === null) return false;
    const record = payload as Record<string, unknown>;
    // Top level (chat chunks, Anthropic's message_delta), or inside the Responses object / Anthropic's message_start.
    const usage = usageFrom(record['usage'] ?? nested(record['response']) ?? nested(record['message']));
    if (!usage) return false;
    // Anthropic reports input tokens first and output tokens at the end: keep the largest of each.
    const seen = this.usage;
    this.usage = seen
      ? {
          promptTokens: Math.max(seen.promptTokens, usage.promptTokens),
          completionTokens: Math.max(seen.completionTokens, usage.completionTokens),
          totalTokens: Math.max(seen.promptTokens, usage.promptTokens) + Math.max(seen.completionTokens, usage.completionTokens),
        }
      : usage;
    const choices = record['choices'];
    return this.options.stripUsageChunk && Array.isArray(choices) && choices.length === 0;
  }
}

/** Reads Anthropic's `{type: 'error', error: {type, message}}` or a Responses `{type: 'error', code, message}`. */
function streamErrorOf(data: string): UpstreamStreamError {
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch {
    payload = undefined;
  }
  const record = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : {};
  const inner = typeof record['error'] === 'object' && record['error'] !== null ? (record['error'] as Record<string, unknown>) : record;
  const type = inner['type'] !== 'error' && typeof inner['type'] === 'string' ? inner['type'] : typeof inner['code'] === 'string' ? inner['code'] : 'api_error';
  return { type, message: typeof inner['message'] === 'string' ? inner['message'] : 'upstream reported an error' };
}

function nested(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)['usage'] : undefined;
}
