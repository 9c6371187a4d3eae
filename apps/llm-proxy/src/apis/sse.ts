/** One server-sent event: its `event:` name (if any) and its `data:` text. */
export interface SseEvent {
  event: string | undefined;
  data: string;
}

/** Frames SSE bytes into events; a partial event waits for the next chunk. */
export class SseParser {
  private carry = '';

  push(chunk: Buffer | string): SseEvent[] {
    const text = this.carry + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const out: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const lf = text.indexOf('\n\n', start);
      const crlf = text.indexOf('\r\n\r\n', start);
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
      if (end < 0) break;
      const parsed = parseEvent(text.slice(start, end));
      if (parsed) out.push(parsed);
      start = end + (end === crlf ? 4 : 2);
    }
    this.carry = text.slice(start);
    return out;
  }

  /** What is left when the stream ended without a final blank line. */
  flush(): SseEvent[] {
    const rest = this.carry;
    this.carry = '';
    const parsed = rest.trim() ? parseEvent(rest) : undefined;
    return parsed ? [parsed] : [];
  }
}

function parseEvent(block: string): SseEvent | undefined {
  // The usual event of a chat stream is one `data: ` line: no split for it.
  if (block.startsWith('data: ') && block.indexOf('\n') < 0 && block.indexOf('\r') < 0) return { event: undefined, data: block.slice(6) };
  let event: string | undefined;
  let data: string | undefined;
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith('data:')) {
      const value = line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5);
      data = data === undefined ? value : `${data}\n${value}`;
    } else if (line.startsWith('event:')) event = line.slice(6).trim();
  }
  return data === undefined ? undefined : { event, data };
}

/** `event: <name>` (when named) and `data: <json>`, as one event. */
export function sseEvent(name: string | undefined, data: unknown): string {
  const json = JSON.stringify(data);
  return name === undefined ? `data: ${json}\n\n` : `event: ${name}\ndata: ${json}\n\n`;
}

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseJsonObject(text: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A string field of a loosely typed body; anything else is `fallback`. */
export function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : fallback;
}
