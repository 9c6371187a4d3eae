/** One server-sent event with an id (comment-only blocks are skipped). */
export interface SseEvent {
  id: number;
  event: string;
  data: { configId: string; revision: number };
}

/** Reads `/v1/watch` events one at a time. */
export class SseReader {
  private buffer = '';
  private readonly decoder = new TextDecoder();

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  static async open(url: string, token: string, signal: AbortSignal, headers: Record<string, string> = {}): Promise<SseReader> {
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}`, ...headers }, signal });
    if (response.status !== 200 || !response.body) throw new Error(`watch answered ${response.status}`);
    return new SseReader(response.body.getReader());
  }

  async next(): Promise<SseEvent> {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const fields = new Map<string, string>();
        for (const line of block.split('\n')) {
          const colon = line.indexOf(': ');
          if (!line.startsWith(':') && colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2));
        }
        const id = fields.get('id');
        if (id !== undefined) return { id: Number(id), event: fields.get('event') ?? '', data: JSON.parse(fields.get('data') ?? 'null') };
        continue;
      }
      const chunk = await this.reader.read();
      if (chunk.done) throw new Error('stream ended');
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
    }
  }
}
