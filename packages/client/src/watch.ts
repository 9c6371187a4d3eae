import { DEFAULT_BACKOFF, ErrorCode, PatchbayError, computeBackoff, isPatchbayError, type ConnectorChange } from '@patchbay/core';
import { problemError, type RegistryClient } from './registry-client';

export interface WatchOptions {
  /** Start after this revision (default: now, i.e. only changes from here on). */
  since?: number;
  signal?: AbortSignal;
  /**
   * `sse` = the `/v1/watch` stream only; `poll` = `/v1/changes` only; `auto` (default) = the
   * stream, falling back to polling when the stream cannot be opened (a proxy that does not
   * pass it, an older registry) and back to the stream now and then.
   */
  transport?: 'auto' | 'sse' | 'poll';
  /** Poll period when polling (default 1000 ms). */
  pollIntervalMs?: number;
  /** Called when the transport changes or a reconnect is scheduled (for logs). */
  onStatus?: (status: WatchStatus) => void;
}

export interface WatchStatus {
  transport: 'sse' | 'poll';
  state: 'open' | 'reconnecting';
  /** Last revision delivered (the resume point). */
  cursor: number;
  /** Code of the failure that caused a reconnect. */
  error?: string;
}

/** Failures a watch cannot fix by retrying: the caller's token or request is wrong. */
function fatal(error: unknown): boolean {
  return isPatchbayError(error) && [ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN, ErrorCode.VALIDATION, ErrorCode.CANCELLED].includes(error.code);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Splits an SSE byte stream into events (WHATWG rules: fields, comments, blank-line dispatch). */
async function* sseEvents(body: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let current: SseEvent = { data: '' };
  let hasData = false;
  for await (const chunk of body) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (hasData) yield current;
        current = { data: '' };
        hasData = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') {
        current.data = hasData ? `${current.data}\n${value}` : value;
        hasData = true;
      } else if (field === 'id') current.id = value;
      else if (field === 'event') current.event = value;
    }
  }
}

/**
 * Follows the registry's changes as an async iterable of `ConnectorChange`, oldest first,
 * each revision once. Resumes where it left off after any drop (`Last-Event-ID` on the
 * stream, `since=` when polling), retrying with backoff; ends when `signal` aborts.
 *
 * @throws PatchbayError UNAUTHORIZED / FORBIDDEN when the token may not watch (not retried).
 */
export async function* watchChanges(registry: RegistryClient, options: WatchOptions = {}): AsyncGenerator<ConnectorChange> {
  const { signal } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  let cursor = options.since ?? (await registry.changes(0, 1)).head;
  let transport: 'sse' | 'poll' = options.transport === 'poll' ? 'poll' : 'sse';
  let failures = 0;
  let pollRounds = 0;

  while (!signal?.aborted) {
    try {
      if (transport === 'sse') {
        const response = await registry.open('/v1/watch', {
          headers: { accept: 'text/event-stream', 'last-event-id': String(cursor) },
          timeoutMs: 0,
          ...(signal ? { signal } : {}),
        });
        const type = String(response.headers['content-type'] ?? '');
        if (response.statusCode !== 200 || !type.startsWith('text/event-stream')) {
          const text = await response.body.text();
          if (response.statusCode >= 300) throw problemError(response.statusCode, text, 'registry watch');
          throw new PatchbayError(ErrorCode.UPSTREAM_ERROR, `watch answered ${type || 'no content type'}, not an event stream`);
        }
        options.onStatus?.({ transport, state: 'open', cursor });
        failures = 0;
        try {
          for await (const event of sseEvents(response.body)) {
            if (event.event !== 'connector.changed' && event.event !== 'connector.deleted') continue;
            const change = JSON.parse(event.data) as ConnectorChange;
            if (change.revision <= cursor) continue;
            cursor = change.revision;
            yield change;
          }
        } finally {
          response.body.destroy();
        }
        // The server ended the stream (shutdown, store failure): resume from the cursor.
        throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'watch stream ended');
      } else {
        const page = await registry.changes(cursor);
        if (page.head < cursor) cursor = 0; // the registry was reset: replay what it has now
        for (const change of page.changes) {
          if (change.revision <= cursor) continue;
          cursor = change.revision;
          yield change;
        }
        failures = 0;
        if (!page.more) {
          pollRounds += 1;
          // Try the stream again now and then: the reason for falling back may be gone.
          if (options.transport !== 'poll' && pollRounds % 30 === 0) transport = 'sse';
          await sleep(pollIntervalMs, signal);
        }
      }
    } catch (error) {
      if (signal?.aborted) return;
      if (fatal(error)) throw error;
      failures += 1;
      if (transport === 'sse' && options.transport !== 'sse' && failures >= 2) {
        transport = 'poll';
        pollRounds = 0;
      }
      const code = isPatchbayError(error) ? error.code : 'ERROR';
      options.onStatus?.({ transport, state: 'reconnecting', cursor, error: code });
      await sleep(computeBackoff(Math.min(failures, 10), { ...DEFAULT_BACKOFF, initialDelayMs: 200, maxDelayMs: 5000 }), signal);
    }
  }
}
