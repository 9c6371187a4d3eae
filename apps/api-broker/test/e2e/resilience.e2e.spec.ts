import { api } from '@patchbay/testkit';
import { FakeApi, problem } from '../support/fake-api';
import { putApi, startStack, waitApplied, type Stack } from '../support/stack';

let stack: Stack;
let a: FakeApi;
let b: FakeApi;

beforeAll(async () => {
  [a, b] = await Promise.all([FakeApi.start('a'), FakeApi.start('b')]);
  stack = await startStack();
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all([a?.stop(), b?.stop()]);
});

beforeEach(() => {
  a.reset();
  b.reset();
});

function broker(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${'pb_test_admin_token_0123456789abcdef'}`);
  return fetch(`${stack.broker.url}${path}`, { ...init, headers });
}

describe('api-broker resilience', () => {
  it('retries a GET whose connection dropped, but never a POST', async () => {
    await putApi(stack, 'FLAKY', { url: a.url, options: { maxRetries: 2 } });
    let calls = 0;
    a.handler = (req, res) => {
      calls++;
      // Every odd request loses its connection before any answer.
      if (calls % 2 === 1) req.socket.destroy();
      else res.end(`answer ${calls}`);
    };
    const get = await broker('/v1/apis/FLAKY/item');
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('answer 2');

    calls = 0;
    const post = await broker('/v1/apis/FLAKY/item', { method: 'POST', body: 'create once' });
    expect(post.status).toBe(502);
    expect(post.headers.get('content-type')).toContain('application/problem+json');
    expect((await problem(post)).code).toBe('UPSTREAM_ERROR');
    expect(calls).toBe(1);
  });

  it('opens the breaker after failures and answers 503 without calling the API', async () => {
    await putApi(stack, 'SICK', { url: a.url, options: { maxRetries: 0, breakerFailures: 3, breakerRecoveryMs: 60_000 } });
    a.handler = (req, res) => {
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream broke');
    };
    for (let i = 0; i < 3; i++) {
      const res = await broker('/v1/apis/SICK/x');
      // The API's own 500 is relayed as it is, and counted.
      expect(res.status).toBe(500);
      expect(await res.text()).toBe('upstream broke');
    }
    const open = await broker('/v1/apis/SICK/x');
    expect(open.status).toBe(503);
    expect(open.headers.get('retry-after')).not.toBeNull();
    expect((await problem(open)).code).toBe('CIRCUIT_OPEN');
    expect(a.seen).toHaveLength(3);
  });

  it('swaps the url under load without failing a request, in-flight ones finishing on the old API', async () => {
    const revision = await putApi(stack, 'MOVING', { url: a.url });
    a.handler = (req, res) => {
      req.resume();
      // Slow enough that requests are in flight on the old pool when the swap lands.
      setTimeout(() => res.writeHead(200, { 'x-fake': 'a' }).end('a'), 50);
    };
    const statuses: number[] = [];
    const served = new Set<string>();
    let running = true;
    const worker = async (): Promise<void> => {
      while (running) {
        const res = await broker('/v1/apis/MOVING/x');
        statuses.push(res.status);
        served.add(await res.text());
      }
    };
    const workers = Array.from({ length: 8 }, () => worker());
    await new Promise((r) => setTimeout(r, 300));
    const put = await api(stack.registry.url, 'PUT', '/v1/connectors/MOVING', { body: { type: 'api', url: b.url } });
    expect(put.status).toBeLessThan(300);
    await waitApplied(stack, 'MOVING', put.body.connector.revision as number);
    expect(put.body.connector.revision).toBeGreaterThan(revision);
    // Keep the load on until the new API has served a while.
    const bSeenAtSwap = b.seen.length;
    while (b.seen.length < bSeenAtSwap + 50) await new Promise((r) => setTimeout(r, 20));
    running = false;
    await Promise.all(workers);
    expect(statuses.length).toBeGreaterThan(60);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(served.has('a')).toBe(true);
    expect([...served].some((text) => text.includes('"from":"b"'))).toBe(true);
  });
});
