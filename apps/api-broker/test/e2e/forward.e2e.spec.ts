import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { API_SERVICE, loadService } from '@patchbay/proto';
import { api, TEST_ADMIN_TOKEN } from '@patchbay/testkit';
import { FakeApi, problem } from '../support/fake-api';
import { putApi, startStack, waitApplied, type Stack } from '../support/stack';

const AGENT = 'agent-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
const ONLY_OTHER = 'only-other-token-0123456789abcdef';
const READ_OTHER = 'read-other-token-0123456789abcdef';
const TOKENS = JSON.stringify([
  { name: 'agent', token: AGENT, scopes: ['use'] },
  { name: 'reader', token: READER, scopes: ['read'] },
  { name: 'only-other', token: ONLY_OTHER, scopes: ['use'], connectors: ['OTHER'] },
  { name: 'read-other', token: READ_OTHER, scopes: ['read'], connectors: ['OTHER'] },
]);

let stack: Stack;
let fake: FakeApi;

beforeAll(async () => {
  fake = await FakeApi.start('main');
  // The registry resolves ENVAPI from its own environment (local mode).
  stack = await startStack({ PATCHBAY_TOKENS: TOKENS }, { ENVAPI_URL: `${fake.url}/from-env`, ENVAPI_APIKEY: 'env-key-1' });
  await putApi(stack, 'API', { url: `${fake.url}/v2?tenant=t1`, credentials: { apiKey: 'upstream-key-1' }, options: { headers: { 'X-Team': 'blue' } } });
});

afterAll(async () => {
  await stack?.stop();
  await fake?.stop();
});

beforeEach(() => fake.reset());

function broker(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? AGENT : init.token;
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  return fetch(`${stack.broker.url}${path}`, { ...init, headers });
}

describe('api-broker forwarding', () => {
  it('forwards method, path and query to the url with the connector credentials, never the caller token', async () => {
    fake.handler = (req, res) => {
      req.resume();
      res.writeHead(404, { 'content-type': 'application/json', 'x-upstream': 'yes' }).end('{"error":"no such order"}');
    };
    const res = await broker('/v1/apis/API/orders/42?expand=items&q=a%20b', {
      method: 'PATCH',
      body: '{"x":1}',
      headers: { 'content-type': 'application/json' },
    });
    // The API's own 404 comes back as it is, not as a Patchbay error.
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('x-upstream')).toBe('yes');
    expect(await res.text()).toBe('{"error":"no such order"}');
    const seen = fake.seen[0];
    expect(seen?.method).toBe('PATCH');
    expect(seen?.url).toBe('/v2/orders/42?tenant=t1&expand=items&q=a%20b');
    expect(seen?.headers.authorization).toBe('Bearer upstream-key-1');
    expect(seen?.headers['x-team']).toBe('blue');
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(JSON.stringify(seen?.headers)).not.toContain(AGENT);
  });

  it('sends the key in the header the options name, and username/password as Basic', async () => {
    await putApi(stack, 'KEYED', { type: 'endpoint', url: fake.url, credentials: { apiKey: 'k-2' }, options: { apiKeyHeader: 'x-api-key' } });
    await putApi(stack, 'BASIC', { url: fake.url, credentials: { username: 'ann', password: 's3cret' } });
    expect((await broker('/v1/apis/KEYED/ping', { headers: { 'x-api-key': 'caller-guess' } })).status).toBe(200);
    expect((await broker('/v1/apis/BASIC/ping')).status).toBe(200);
    expect(fake.seen[0]?.headers['x-api-key']).toBe('k-2');
    expect(fake.seen[0]?.headers.authorization).toBeUndefined();
    expect(fake.seen[1]?.headers.authorization).toBe(`Basic ${Buffer.from('ann:s3cret').toString('base64')}`);
  });

  it('uses the url and key the registry resolves from its environment', async () => {
    await putApi(stack, 'ENVAPI', {});
    const res = await broker('/v1/apis/ENVAPI/x');
    expect(res.status).toBe(200);
    expect(fake.seen[0]?.url).toBe('/from-env/x');
    expect(fake.seen[0]?.headers.authorization).toBe('Bearer env-key-1');
  });

  it('answers 401 without a token, 403 without the use scope or outside the allow-list, 404 for an unknown connector', async () => {
    const none = await broker('/v1/apis/API/x', { token: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toContain('application/problem+json');
    expect((await broker('/v1/apis/API/x', { token: 'not-a-token-0123456789' })).status).toBe(401);
    const reader = await broker('/v1/apis/API/x', { token: READER });
    expect(reader.status).toBe(403);
    const outside = await broker('/v1/apis/API/x', { token: ONLY_OTHER });
    expect(outside.status).toBe(403);
    expect((await problem(outside)).code).toBe('FORBIDDEN');
    const unknown = await broker('/v1/apis/NOPE/x');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
    expect((await broker('/v1/apis/bad-id!/x')).status).toBe(400);
    expect(fake.seen).toHaveLength(0);
  });

  it('streams a large upload through: the API reads bytes before the caller has sent them all', async () => {
    let received = 0;
    let firstBytes!: () => void;
    const gotFirst = new Promise<void>((resolve) => (firstBytes = resolve));
    fake.handler = (req, res) => {
      req.on('data', (chunk: Buffer) => {
        if (received === 0) firstBytes();
        received += chunk.length;
      });
      req.on('end', () => res.end(String(received)));
    };
    const chunk = Buffer.alloc(1024 * 1024, 1);
    const chunks = 24;
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${stack.broker.url}/v1/apis/API/upload`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${AGENT}`, 'content-length': String(chunk.length * chunks) },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write(chunk);
      // The rest only once the API has seen the start: a buffering proxy would wait forever.
      void gotFirst.then(async () => {
        for (let i = 1; i < chunks; i++) if (!req.write(chunk)) await once(req, 'drain');
        req.end();
      });
    });
    expect(status).toEqual({ status: 200, body: String(chunk.length * chunks) });
  });

  it('streams an SSE download event by event', async () => {
    let sendSecond!: () => void;
    fake.handler = (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('event: a\ndata: 1\n\n');
      sendSecond = () => res.end('event: b\ndata: 2\n\n');
    };
    const res = await broker('/v1/apis/API/events', { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value).toString()).toBe('event: a\ndata: 1\n\n');
    // The second event exists only after the first reached us.
    sendSecond();
    let rest = '';
    for (let part = await reader.read(); !part.done; part = await reader.read()) rest += Buffer.from(part.value).toString();
    expect(rest).toBe('event: b\ndata: 2\n\n');
  });

  it('answers 413 for a body over the connector limit', async () => {
    await putApi(stack, 'SMALL', { url: fake.url, options: { bodyLimitBytes: 1024 } });
    const res = await broker('/v1/apis/SMALL/x', { method: 'POST', body: 'x'.repeat(2048) });
    expect(res.status).toBe(413);
    expect((await problem(res)).code).toBe('PAYLOAD_TOO_LARGE');
    expect(fake.seen).toHaveLength(0);
  });

  it('answers 504 when the API does not answer within the time limit', async () => {
    await putApi(stack, 'SLOW', { url: fake.url, options: { timeoutMs: 300, maxRetries: 0 } });
    fake.handler = () => undefined;
    const started = Date.now();
    const res = await broker('/v1/apis/SLOW/x');
    expect(res.status).toBe(504);
    expect((await problem(res)).code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('answers 503 with the reason for a connector without a url, and recovers once it gets one', async () => {
    const put = await api(stack.registry.url, 'PUT', '/v1/connectors/NOURL', { body: { type: 'api' }, token: TEST_ADMIN_TOKEN });
    expect(put.status).toBeLessThan(300);
    await waitFor503('NOURL');
    const revision = await putApi(stack, 'NOURL', { url: fake.url });
    await waitApplied(stack, 'NOURL', revision);
    expect((await broker('/v1/apis/NOURL/x')).status).toBe(200);
  });
});

describe('api-broker status and docs', () => {
  it('lists and shows connections over REST, filtered by the allow-list', async () => {
    const list = await broker('/v1/connections', { token: READER });
    expect(list.status).toBe(200);
    const items = ((await list.json()) as { items: { configId: string; state: string; target: string }[] }).items;
    expect(items.find((c) => c.configId === 'API')).toMatchObject({ state: 'active', target: `${fake.url}/v2` });
    expect(JSON.stringify(items)).not.toContain('upstream-key-1');
    const limited = (await (await broker('/v1/connections', { token: READ_OTHER })).json()) as { items: unknown[] };
    expect(limited.items).toEqual([]);
    expect((await broker('/v1/connections/API', { token: READER })).status).toBe(200);
    expect((await broker('/v1/connections/API', { token: READ_OTHER })).status).toBe(403);
    expect((await broker('/v1/connections/NOPE', { token: READER })).status).toBe(404);
    expect((await broker('/v1/connections', { token: AGENT })).status).toBe(403);
  });

  it('mirrors the status routes over gRPC, with the same scopes and allow-list', async () => {
    const { Client } = loadService('api', API_SERVICE);
    const client = new Client(stack.broker.grpcAddress, credentials.createInsecure()) as unknown as Record<
      string,
      (request: unknown, metadata: Metadata, callback: (error: ServiceError | null, response: unknown) => void) => void
    >;
    const call = (method: string, request: unknown, token: string): Promise<Record<string, unknown>> => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      return new Promise((resolve, reject) =>
        client[method]?.(request, metadata, (error, response) => (error ? reject(error) : resolve(response as Record<string, unknown>))),
      );
    };
    try {
      const list = await call('ListConnections', {}, READER);
      expect((list.items as { configId: string }[]).map((c) => c.configId)).toContain('API');
      expect(await call('GetConnection', { configId: 'API' }, READER)).toMatchObject({
        configId: 'API',
        state: 'active',
        breaker: 'closed',
        target: `${fake.url}/v2`,
      });
      expect(await call('ListConnections', {}, READ_OTHER)).toMatchObject({ items: [] });
      // PERMISSION_DENIED, NOT_FOUND, INVALID_ARGUMENT, UNAUTHENTICATED
      await expect(call('GetConnection', { configId: 'API' }, READ_OTHER)).rejects.toMatchObject({ code: 7 });
      await expect(call('GetConnection', { configId: 'NOPE' }, READER)).rejects.toMatchObject({ code: 5 });
      await expect(call('GetConnection', { configId: 'bad-id!' }, READER)).rejects.toMatchObject({ code: 3 });
      await expect(call('ListConnections', {}, 'not-a-token-0123456789')).rejects.toMatchObject({ code: 16 });
    } finally {
      (client as unknown as { close(): void }).close();
    }
  });

  it('documents every route it answers in /docs/json', async () => {
    const res = await fetch(`${stack.broker.url}/docs/json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, Record<string, { operationId?: string }>> };
    const ids = Object.values(doc.paths).flatMap((methods) => Object.values(methods).map((o) => o.operationId));
    expect(ids).toEqual(
      expect.arrayContaining(['api.forward.get', 'api.forward.post', 'api.forward.delete', 'connections.list', 'connections.get', 'connections.breaker']),
    );
  });

  it('is ready once the registry is loaded, with a summary of its connections', async () => {
    const res = await fetch(`${stack.broker.url}/health/ready`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('registry');
    expect(text).toContain('apis');
  });
});

async function waitFor503(configId: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const res = await broker(`/v1/apis/${configId}/x`);
    if (res.status === 503) {
      expect((await problem(res)).detail ?? '').toContain('no url');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${configId} never answered 503`);
}
