import type { Envelope } from '@patchbay/core';
import { RedisBus } from '@patchbay/core/redis';
import { eventually, freePort, testRedisUrl } from '@patchbay/testkit';
import { startPrivatePostgres, type PrivatePostgres } from './support/private-postgres';
import { brokerBackends, startStack, withClient, type Stack } from './support/stack';

jest.setTimeout(90_000);

describe('db-broker when the database goes away (private Postgres, Redis, built app)', () => {
  let pg: PrivatePostgres;
  let stack: Stack;
  let bus: RedisBus;
  const events: Envelope[] = [];
  const stateEvents = (name: string): string[] =>
    events.filter((e) => e.type === 'connection.state.v1' && (e.data as { name: string }).name === name).map((e) => (e.data as { to: string }).to);

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    stack = await startStack();
    bus = new RedisBus({ url: testRedisUrl(), prefix: stack.prefix });
    await bus.subscribe('state', (envelope) => {
      events.push(envelope);
    });
    await stack.putDatabase('FLAKY', pg.url, { max: 3, acquireTimeoutMs: 3000 });
    await stack.waitActive('FLAKY');
  });

  afterAll(async () => {
    await bus?.close();
    await stack?.stop();
    await pg?.destroy();
  });

  const query = (sql = 'SELECT 1 AS ok') => stack.broker$('POST', '/v1/databases/FLAKY/query', { sql });

  it('fails fast with 503 while the database is down, then serves again once it is back', async () => {
    expect((await query()).status).toBe(200);
    await pg.stop();
    // The first caller may meet the dead connection; from then on the pool is known down.
    await eventually(
      async () => {
        await query();
        return (await stack.broker$('GET', '/v1/databases/FLAKY')).body.state === 'retrying';
      },
      15_000,
      'pool retrying',
    );

    const started = Date.now();
    for (let i = 0; i < 20; i++) {
      const response = await query();
      expect(response.status).toBe(503);
      expect(response.body.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // 20 calls that each waited for the 3 s acquire timeout would take a minute.
    expect(Date.now() - started).toBeLessThan(10_000);
    await eventually(() => stateEvents('FLAKY').includes('retrying'), 10_000, 'retrying on the bus');
    expect((await stack.broker$('GET', '/v1/databases/FLAKY')).body.lastError.message).toBeTruthy();
    expect(stack.broker.process.exitCode).toBeNull();

    await pg.start();
    const back = Date.now();
    await eventually(async () => (await query()).status === 200, 15_000, 'served again');
    const recoveryMs = Date.now() - back;
    process.stdout.write(`db-broker recovered ${recoveryMs} ms after the database was back\n`);
    await eventually(() => stateEvents('FLAKY').slice(-1)[0] === 'active', 10_000, 'active on the bus');

    // Under load afterwards the broker never holds more connections than the pool max.
    const results = await Promise.all(Array.from({ length: 30 }, () => query('SELECT pg_sleep(0.02), 1 AS ok')));
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(200));
    const held = await brokerBackends(pg.url, 'postgres', 'FLAKY');
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(3);
    const all = await withClient(
      pg.url,
      async (c) => (await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'patchbay-db-broker:%'")).rows[0].n as number,
    );
    expect(all).toBeLessThanOrEqual(3);
  });

  it('survives terminated backends (idle and busy) without crashing', async () => {
    await Promise.all(Array.from({ length: 3 }, () => query('SELECT pg_sleep(0.01)')));
    const busy = query('SELECT pg_sleep(3)');
    await eventually(async () => (await brokerBackends(pg.url, 'postgres', 'FLAKY')) > 0, 5_000, 'backends');
    await withClient(pg.url, (c) => c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'patchbay-db-broker:FLAKY'"));
    const interrupted = await busy;
    expect(interrupted.status).toBe(503);
    expect(interrupted.body.code).toBe('UPSTREAM_UNAVAILABLE');
    await eventually(async () => (await query()).status === 200, 15_000, 'served again after terminate');
    expect(stack.broker.process.exitCode).toBeNull();
    expect((await stack.broker$('GET', '/v1/databases/FLAKY')).body.state).toBe('active');
  });

  it('gives up on a server that stops answering (client-side read timeout), then serves again', async () => {
    // One connection, a 500 ms statement timeout: the broker waits 500 ms + its 5 s grace.
    await stack.putDatabase('SILENT', pg.url, { max: 1, statementTimeoutMs: 500, acquireTimeoutMs: 3000 });
    await stack.waitActive('SILENT');
    const silent = (sql: string) => stack.broker$('POST', '/v1/databases/SILENT/query', { sql });
    const pid = (await silent('SELECT pg_backend_pid() AS pid')).body.rows[0].pid as number;
    // A stopped backend neither answers nor lets its statement_timeout fire.
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const stuck = await silent('SELECT 1 AS ok');
      const waited = Date.now() - started;
      expect(stuck.status).toBe(503);
      expect(stuck.body.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(waited).toBeGreaterThanOrEqual(5_000);
      expect(waited).toBeLessThan(15_000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await eventually(async () => (await silent('SELECT 1 AS ok')).status === 200, 15_000, 'served again after the silent backend');
    expect(stack.broker.process.exitCode).toBeNull();
    await stack.deleteConnector('SILENT');
  });

  it('starts a pool for an unreachable database and answers 503 at once', async () => {
    const closedPort = await freePort();
    await stack.putDatabase('NOWHERE', `postgres://postgres@127.0.0.1:${closedPort}/postgres`, { acquireTimeoutMs: 3000 });
    await eventually(async () => (await stack.broker$('GET', '/v1/databases/NOWHERE')).body.state === 'retrying', 15_000, 'retrying');
    const response = await stack.broker$('POST', '/v1/databases/NOWHERE/query', { sql: 'SELECT 1' });
    expect(response.status).toBe(503);
    expect(response.body.detail).toMatch(/unreachable/);
    const ready = await stack.broker$('GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(JSON.stringify(ready.body)).toContain('NOWHERE');
  });
});
