import { usageFrom, type Usage } from './usage';

const LF_LF = Buffer.from('\n\n');
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const DONE = Buffer.from('[DONE]');
const USAGE = Buffer.from('"usage"');
const NULL_USAGE = /"usage"\s*:\s*null/;

export interface SseRelayOptions {
  /** Drop the usage-only chunk (empty `choices`) the proxy asked for on the client's behalf. */
  stripUsageChunk: boolean;
  /** Receives the bytes to forward, whole events only, unchanged. */
  emit: (bytes: Buffer) => void;
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
    if (!this.sawDone && event.indexOf(DONE) >= 0 && dataOf(event.toString('utf8')).trim() === '[DONE]') {
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
    const usage = usageFrom(record['usage']);
    if (!usage) return false;
    this.usage = usage;
    const choices = record['choices'];
    return this.options.stripUsageChunk && Array.isArray(choices) && choices.length === 0;
  }
}
