import { createTestDatabase, eventually, testDatabaseUrl, type TestDatabase } from '@patchbay/testkit';
import { brokerBackends, startStack, withClient, type Stack } from './support/stack';

jest.setTimeout(90_000);

describe('db-broker hot swap (real Postgres, Redis, built app)', () => {
  let a: TestDatabase;
  let b: TestDatabase;
  let stack: Stack;

  beforeAll(async () => {
    [a, b] = await Promise.all([createTestDatabase('pbswap'), createTestDatabase('pbswap')]);
    await withClient(a.url, (c) => c.query("CREATE TABLE marker (name text); INSERT INTO marker VALUES ('A')"));
    await withClient(b.url, (c) => c.query("CREATE TABLE marker (name text); INSERT INTO marker VALUES ('B')"));
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
    await a?.drop();
    await b?.drop();
  });

  it('swaps pools on a URL change while 20 clients query, with 0 failed queries', async () => {
    await stack.putDatabase('SWAP', a.url, { max: 4, acquireTimeoutMs: 20_000 });
    await stack.waitActive('SWAP');

    const seen = { A: 0, B: 0 };
    const failures: string[] = [];
    let swapped = false;
    let stop = false;
    const sawBAfterSwap = new Set<number>();
    // 20 clients on a pool of 4: at any moment some queries run and others wait in
    // pg's queue, which is exactly what a naive pool.end() would strand.
    const client = async (id: number): Promise<void> => {
      while (!stop) {
        const response = await stack.broker$('POST', '/v1/databases/SWAP/query', { sql: 'SELECT name, pg_sleep(0.005) FROM marker' });
        if (response.status !== 200) {
          failures.push(`${response.status} ${response.text}`);
          continue;
        }
        const name = response.body.rows[0].name as 'A' | 'B';
        seen[name]++;
        if (swapped && name === 'B') sawBAfterSwap.add(id);
      }
    };
    const clients = Array.from({ length: 20 }, (_, id) => client(id));
    await eventually(() => seen.A >= 100, 30_000, '100 queries on A');
    // Swap while callers are queued in pg's waiting list (what a bare pool.end() strands).
    const queued = await eventually(
      async () => {
        const status = await stack.broker$('GET', '/v1/databases/SWAP');
        return status.body.pool.waiting > 0 ? status.body.pool : undefined;
      },
      30_000,
      'queries waiting for a connection',
    );
    expect(queued.inUse).toBe(4);
    await stack.putDatabase('SWAP', b.url, { max: 4, acquireTimeoutMs: 20_000 });
    swapped = true;
    await eventually(() => sawBAfterSwap.size === 20, 30_000, 'every client answered by B');
    const bAtSwapDone = seen.B;
    await eventually(() => seen.B >= bAtSwapDone + 100, 30_000, '100 more queries on B');
    stop = true;
    await Promise.all(clients);

    expect(failures).toEqual([]);
    expect(seen.A).toBeGreaterThanOrEqual(100);
    expect(seen.B).toBeGreaterThanOrEqual(100);
    // The old pool drained and closed: no broker connection is left on A.
    await eventually(async () => (await brokerBackends(testDatabaseUrl(), a.name, 'SWAP')) === 0, 20_000, 'old pool closed');
    const status = await stack.broker$('GET', '/v1/databases/SWAP');
    expect(status.body).toMatchObject({ state: 'active', drainingPools: 0 });
    expect(status.body.target).toContain(b.name);
    expect(stack.broker.logs()).toMatch(/old database pool drained and closed/);
  });

  it('drains and closes the pool of a deleted connector', async () => {
    const before = await brokerBackends(testDatabaseUrl(), b.name, 'SWAP');
    expect(before).toBeGreaterThan(0);
    await stack.deleteConnector('SWAP');
    await eventually(async () => (await stack.broker$('POST', '/v1/databases/SWAP/query', { sql: 'SELECT 1' })).status === 404, 15_000, 'connector gone');
    await eventually(async () => (await brokerBackends(testDatabaseUrl(), b.name, 'SWAP')) === 0, 15_000, 'pool closed');
  });
});
