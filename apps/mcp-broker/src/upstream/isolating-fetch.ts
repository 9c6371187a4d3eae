import { setMaxListeners } from 'node:events';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

/** Shared signals whose leak warning is already off. */
const bounded = new WeakSet<AbortSignal>();

/**
 * `fetch` for the SDK's HTTP client transports. They pass one connection-wide
 * AbortSignal to every request; undici puts an abort listener on the signal it is given
 * and drops it only on abort or garbage collection, so under steady tool-call traffic
 * that shared signal collects thousands of listeners (MaxListenersExceededWarning, memory
 * that grows with every call). Here each request gets its own signal, bridged from the
 * shared one by a listener that is removed once the request settled: its response body
 * ended, failed or was cancelled, or the request itself failed. Aborting the shared
 * signal (the transport closing) still aborts every request and stream in flight.
 * The shared signal then holds one listener per request in flight, no more, so Node's
 * leak warning (at 10 listeners) is turned off for it.
 */
export function isolatingFetch(base: FetchLike = fetch): FetchLike {
  return async (url, init) => {
    const shared = init?.signal;
    if (!shared) return base(url, init);
    shared.throwIfAborted();
    if (!bounded.has(shared)) {
      bounded.add(shared);
      setMaxListeners(0, shared);
    }
    const own = new AbortController();
    const forward = (): void => own.abort(shared.reason);
    shared.addEventListener('abort', forward, { once: true });
    const release = (): void => shared.removeEventListener('abort', forward);
    let response: Response;
    try {
      response = await base(url, { ...init, signal: own.signal });
    } catch (error) {
      release();
      throw error;
    }
    const source = response.body;
    if (!source) {
      release();
      return response;
    }
    const reader: ReadableStreamDefaultReader<Uint8Array> = source.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            release();
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (error) {
          release();
          controller.error(error);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
