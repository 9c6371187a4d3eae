import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type RequestOptions,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { isPatchbayError } from '@patchbay/core';
import { Pool } from 'undici';
import type { ApiSpec, ApiUpstream, UpstreamAccess } from './api-spec';
import { forward, UPSTREAM_MS_HEADER } from './forwarder';
import { parseUpstreamBase, restOfUrl } from './upstream-url';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP server whose behaviour each test sets. */
class Upstream {
  handler: Handler = (_req, res) => res.end('ok');
  readonly seen: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
  readonly server: Server = createServer((req, res) => {
    this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    this.handler(req, res);
  });
  url = '';
  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

const TIMING = { initialDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 1000 };

function specFor(url: string, overrides: Partial<ApiSpec> = {}): ApiSpec {
  return {
    configId: 'API',
    base: parseUpstreamBase(url),
    injected: { authorization: 'Bearer upstream-secret' },
    totalTimeoutMs: 5000,
    connectTimeoutMs: 1000,
    headersTimeoutMs: 2000,
    maxRetries: 2,
    maxConnections: 16,
    bodyLimitBytes: 64 * 1024 * 1024,
    breakerFailures: 5,
    breakerRecoveryMs: 1000,
    ...overrides,
  };
}

/** A request through node:http, which sends what it is given (no header rules, no path normalization). */
function raw(url: string, options: RequestOptions): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, options, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

let upstream: Upstream;
let front: Server;
let frontUrl: string;
let spec: ApiSpec;
let pools: Pool[] = [];
/** Work the forwarder did through `use`, and how each attempt ended. */
let uses: ('ok' | 'threw')[];

function access(): UpstreamAccess {
  const pool = new Pool(spec.base.origin, { connect: { timeout: spec.connectTimeoutMs }, headersTimeout: spec.headersTimeoutMs });
  pools.push(pool);
  const live: ApiUpstream = { dispatcher: pool, spec };
  return {
    spec,
    async use(work) {
      try {
        const result = await work(live);
        uses.push('ok');
        return result;
      } catch (error) {
        uses.push('threw');
        throw error;
      }
    },
  };
}

beforeEach(async () => {
  upstream = new Upstream();
  await upstream.start();
  spec = specFor(`${upstream.url}/base`);
  uses = [];
  front = createServer((req, res) => {
    const controller = new AbortController();
    res.once('close', () => controller.abort());
    forward(
      {
        method: req.method ?? 'GET',
        rest: restOfUrl(req.url ?? '/', 3),
        request: req,
        response: res,
        signal: controller.signal,
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      },
      access(),
      TIMING,
    ).catch((error: unknown) => {
      const status = isPatchbayError(error) ? error.status : 500;
      res.writeHead(status, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ status, message: (error as Error).message }));
    });
  });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}/v1/apis/API`;
});

afterEach(async () => {
  front.closeAllConnections();
  upstream.server.closeAllConnections();
  await Promise.all([new Promise((r) => front.close(r)), new Promise((r) => upstream.server.close(r)), ...pools.map((p) => p.destroy())]);
  pools = [];
});

describe('forward', () => {
  it('forwards method, path and query with the connector credentials, never the caller token', async () => {
    upstream.handler = (_req, res) => res.writeHead(404, { 'content-type': 'application/json', 'x-upstream': 'yes' }).end('{"error":"no such user"}');
    // node:http, not fetch: fetch refuses to send a Connection header.
    const res = await raw(`${frontUrl}/users/7?expand=a%20b`, {
      method: 'DELETE',
      headers: { authorization: 'Bearer caller-patchbay-token', 'x-caller': 'kept', connection: 'x-hop', 'x-hop': 'dropped' },
    });
    expect(res.status).toBe(404);
    expect(res.headers['x-upstream']).toBe('yes');
    expect(Number(res.headers[UPSTREAM_MS_HEADER])).toBeGreaterThanOrEqual(0);
    expect(res.text).toBe('{"error":"no such user"}');
    const [seen] = upstream.seen;
    expect(seen?.method).toBe('DELETE');
    expect(seen?.url).toBe('/base/users/7?expand=a%20b');
    expect(seen?.headers.authorization).toBe('Bearer upstream-secret');
    expect(seen?.headers['x-caller']).toBe('kept');
    expect(seen?.headers['x-hop']).toBeUndefined();
    expect(seen?.headers.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-/);
    // A 404 is the API's answer, not a failure: one attempt, counted as fine.
    expect(uses).toEqual(['ok']);
  });

  it('streams a large upload: the upstream reads the first bytes before the caller has sent the rest', async () => {
    let received = 0;
    let firstChunk!: () => void;
    const gotFirst = new Promise<void>((r) => (firstChunk = r));
    upstream.handler = (req, res) => {
      req.on('data', (chunk: Buffer) => {
        if (received === 0) firstChunk();
        received += chunk.length;
      });
      req.on('end', () => res.end(`got ${received}`));
    };
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const total = 32;
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(`${frontUrl}/upload`, { method: 'PUT', headers: { 'content-length': String(chunk.length * total) } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.write(chunk);
      // The rest goes only once the upstream has seen bytes: a buffering proxy would deadlock here.
      void gotFirst.then(async () => {
        for (let i = 1; i < total; i++) if (!req.write(chunk)) await once(req, 'drain');
        req.end();
      });
    });
    expect(await answer).toEqual({ status: 200, text: `got ${chunk.length * total}` });
  });

  it('streams a chunked SSE download event by event', async () => {
    let next!: () => void;
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      next = () => res.end('data: two\n\n');
    };
    const res = await fetch(`${frontUrl}/events`);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const first = await reader.read();
    // The upstream sends the second event only after the first reached the caller.
    expect(Buffer.from(first.value).toString()).toBe('data: one\n\n');
    next();
    let rest = '';
    for (let part = await reader.read(); !part.done; part = await reader.read()) rest += Buffer.from(part.value).toString();
    expect(rest).toBe('data: two\n\n');
  });

  it('retries a GET whose connection was dropped, but not a POST', async () => {
    let calls = 0;
    upstream.handler = (req, res) => {
      calls++;
      if (calls === 1) req.socket.destroy();
      else res.end(`call ${calls}`);
    };
    const get = await fetch(`${frontUrl}/x`);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('call 2');
    expect(uses).toEqual(['threw', 'ok']);

    calls = 0;
    uses = [];
    const post = await fetch(`${frontUrl}/x`, { method: 'POST', body: 'payload' });
    expect(post.status).toBe(502);
    expect(calls).toBe(1);
    expect(uses).toEqual(['threw']);
  });

  it('retries a GET on 503 and relays the last answer as is when retries run out', async () => {
    let calls = 0;
    upstream.handler = (_req, res) => {
      calls++;
      res.writeHead(503, { 'retry-after': '0', 'content-type': 'text/plain' }).end(`busy ${calls}`);
    };
    const res = await fetch(`${frontUrl}/x`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('busy 3');
    expect(calls).toBe(3);
    // Every attempt counts against the breaker, the relayed one too.
    expect(uses).toEqual(['threw', 'threw', 'threw']);
  });

  it('does not retry a PUT whose body already went upstream', async () => {
    let calls = 0;
    upstream.handler = (req, res) => {
      calls++;
      req.resume();
      req.on('end', () => res.writeHead(502).end('bad gateway upstream'));
    };
    const res = await fetch(`${frontUrl}/x`, { method: 'PUT', body: 'data' });
    expect(res.status).toBe(502);
    expect(await res.text()).toBe('bad gateway upstream');
    expect(calls).toBe(1);
  });

  it('answers 504 when the upstream sends no headers in time', async () => {
    spec = specFor(upstream.url, { headersTimeoutMs: 100, maxRetries: 0 });
    upstream.handler = () => undefined;
    const res = await fetch(`${frontUrl}/slow`);
    expect(res.status).toBe(504);
  });

  it('answers 504 at the total time limit, retries included', async () => {
    spec = specFor(upstream.url, { totalTimeoutMs: 150 });
    upstream.handler = () => undefined;
    const started = Date.now();
    const res = await fetch(`${frontUrl}/slow`);
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('answers 502 when nothing listens at the url', async () => {
    const gone = new Upstream();
    await gone.start();
    spec = specFor(gone.url, { maxRetries: 1 });
    await new Promise((r) => gone.server.close(r));
    const res = await fetch(`${frontUrl}/x`);
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('could not be reached');
    expect(uses).toEqual(['threw', 'threw']);
  });

  it('refuses a body over the limit with 413, declared or streamed', async () => {
    spec = specFor(upstream.url, { bodyLimitBytes: 1000 });
    upstream.handler = (req, res) => {
      req.resume();
      req.on('end', () => res.end('read it all'));
    };
    const declared = await fetch(`${frontUrl}/x`, { method: 'POST', body: 'x'.repeat(1001) });
    expect(declared.status).toBe(413);
    expect(upstream.seen).toHaveLength(0);

    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${frontUrl}/x`, { method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('y'.repeat(600));
      req.end('y'.repeat(600));
    });
    expect(chunked).toBe(413);
  });

  it('refuses dot segments before anything goes upstream', async () => {
    // fetch would normalize the dots away before sending; node:http keeps them.
    const res = await raw(frontUrl, { path: '/v1/apis/API/%2e%2e/admin' });
    expect(res.status).toBe(400);
    expect(upstream.seen).toHaveLength(0);
  });
});
