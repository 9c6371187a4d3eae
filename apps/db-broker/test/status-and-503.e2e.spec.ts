import { api, createTestDatabase, eventually, type TestDatabase } from '@patchbay/testkit';
import { TOKENS, brokerBackends, startStack, withClient, type Stack } from './support/stack';

jest.setTimeout(60_000);

/** What an operator reads in `GET /v1/databases/:id`, and what a client is told on a 503. */
describe('db-broker status errors and Retry-After (real Postgres, Redis, built app)', () => {
  let db: TestDatabase;
  let stack: Stack;

  beforeAll(async () => {
    db = await createTestDatabase('pbstatus');
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON status read field by field
  const status = async (configId: string): Promise<Record<string, any>> => (await stack.broker$('GET', `/v1/databases/${configId}`)).body;
  const terminate = (configId: string): Promise<unknown> =>
    withClient(db.url, (c) =>
      c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [
        db.name,
        `patchbay-db-broker:${configId}`,
      ]),
    );

  it('keeps a lost connection as history, not as the current error, once the pool serves again', async () => {
    await stack.putDatabase('LOSES', db.url, { max: 2 });
    await stack.waitActive('LOSES');
    const busy = stack.broker$('POST', '/v1/databases/LOSES/query', { sql: 'SELECT pg_sleep(5)' });
    await eventually(async () => (await brokerBackends(db.url, db.name, 'LOSES')) > 0, 5_000, 'busy backend');
    await terminate('LOSES');
    expect((await busy).status).toBe(503);

    await eventually(async () => (await stack.broker$('POST', '/v1/databases/LOSES/query', { sql: 'SELECT 1' })).status === 200, 15_000, 'served again');
    const after = await status('LOSES');
    expect(after).toMatchObject({ state: 'active', lastError: null });
    expect(after.previousError.message).toMatch(/terminat/);
    expect(Date.parse(after.previousError.clearedAt)).toBeGreaterThanOrEqual(Date.parse(after.previousError.at));
  });

  it('does not report a dropped idle connection as the current error of an active pool', async () => {
    await stack.putDatabase('IDLE', db.url, { max: 2, min: 1 });
    await stack.waitActive('IDLE');
    expect((await stack.broker$('POST', '/v1/databases/IDLE/query', { sql: 'SELECT 1' })).status).toBe(200);
    await eventually(async () => (await brokerBackends(db.url, db.name, 'IDLE')) > 0, 5_000, 'idle backend');
    await terminate('IDLE');
    await eventually(async () => (await status('IDLE')).previousError !== null, 10_000, 'idle error seen');
    expect(await status('IDLE')).toMatchObject({ state: 'active', lastError: null });
    expect((await stack.broker$('POST', '/v1/databases/IDLE/query', { sql: 'SELECT 1 AS ok' })).body.rows).toEqual([{ ok: 1 }]);
  });

  it('answers every 503 with Retry-After: breaker held open, misconfigured connector', async () => {
    await stack.putDatabase('HELD', db.url, { max: 2 });
    await stack.waitActive('HELD');
    expect((await stack.broker$('POST', '/v1/databases/HELD/breaker', { action: 'open' })).body.breaker).toBe('forced_open');
    const held = [
      await stack.broker$('POST', '/v1/databases/HELD/query', { sql: 'SELECT 1' }),
      await stack.broker$('POST', '/v1/databases/HELD/batch', { queries: [{ sql: 'SELECT 1' }] }),
      await stack.broker$('POST', '/v1/databases/HELD/sessions', {}, TOKENS.alice),
    ];
    for (const response of held) {
      expect({ status: response.status, code: response.body.code }).toEqual({ status: 503, code: 'CIRCUIT_OPEN' });
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    await stack.broker$('POST', '/v1/databases/HELD/breaker', { action: 'reset' });

    // No url and no BROKEN_URL in the registry's env: the connector resolves to nothing usable.
    const put = await api(stack.registry.url, 'PUT', '/v1/connectors/BROKEN', { body: { type: 'database', label: 'BROKEN' } });
    expect(put.status).toBeLessThan(300);
    await eventually(async () => (await status('BROKEN')).state === 'dead', 10_000, 'misconfigured connector known');
    const broken = await stack.broker$('POST', '/v1/databases/BROKEN/query', { sql: 'SELECT 1' });
    expect(broken.status).toBe(503);
    expect(broken.body.detail).toMatch(/misconfigured/);
    expect(Number(broken.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
