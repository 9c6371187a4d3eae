import { getEventListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isolatingFetch } from './isolating-fetch';

describe('isolatingFetch', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: first\n\n');
        return; // stays open until the client goes away
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('leaves no listener on the shared signal once responses were read', async () => {
    const shared = new AbortController();
    const isolated = isolatingFetch();
    for (let i = 0; i < 50; i++) {
      const response = await isolated(`${url}/json`, { signal: shared.signal });
      expect(await response.json()).toEqual({ ok: true });
    }
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);

    // What it guards against: plain fetch keeps one listener per request on the shared signal.
    const plain = new AbortController();
    for (let i = 0; i < 5; i++) await (await fetch(`${url}/json`, { signal: plain.signal })).json();
    expect(getEventListeners(plain.signal, 'abort').length).toBeGreaterThanOrEqual(5);
  });

  it('still aborts an open stream when the shared signal aborts, and releases on cancel', async () => {
    const shared = new AbortController();
    const isolated = isolatingFetch();
    const response = await isolated(`${url}/stream`, { signal: shared.signal });
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('data: first');
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(1);
    shared.abort(new Error('transport closed'));
    await expect(reader.read()).rejects.toThrow();

    const other = new AbortController();
    const cancelled = await isolated(`${url}/stream`, { signal: other.signal });
    await cancelled.body!.cancel();
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
    await expect(isolated(`${url}/json`, { signal: AbortSignal.abort(new Error('already gone')) })).rejects.toThrow('already gone');
  });
});
