import { BreakerState, ConnectionState, type ResolvedConnector } from '@patchbay/core';
import { createTestDatabase, eventually, type TestDatabase } from '@patchbay/testkit';
import { DEFAULT_SETTINGS } from '../src/config/broker-settings';
import { ConnectorPool, type PoolObserver } from '../src/pools/connector-pool';
import { poolSpecOf } from '../src/pools/pool-target';
import { execute, type Statement } from '../src/query/execute';
import { withClient } from './support/stack';

jest.setTimeout(30_000);

const quiet: PoolObserver = {
  stateChanged: () => undefined,
  breakerChanged: () => undefined,
  swapped: () => undefined,
  drained: () => undefined,
  reconnectAttempt: () => undefined,
  acquired: () => undefined,
  idleError: () => undefined,
};

describe('ConnectorPool statement errors (real Postgres)', () => {
  let db: TestDatabase;
  let pool: ConnectorPool | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('pbcpool');
  });

  afterEach(async () => {
    await pool?.close(1000);
  });

  afterAll(async () => {
    await db?.drop();
  });

  const start = async (configId: string): Promise<ConnectorPool> => {
    const connector: ResolvedConnector = { configId, type: 'database', revision: 1, checksum: 'x', mode: 'local', url: db.url, source: 'explicit', headers: {}, options: { max: 2 } };
    const created = new ConnectorPool({ configId, revision: 1, spec: poolSpecOf(connector, DEFAULT_SETTINGS), observer: quiet, reconnectMaxMs: 1000, drainTimeoutMs: 1000, instance: 'test' });
    pool = created;
    created.start();
    await eventually(() => created.state === ConnectionState.ACTIVE, 10_000, 'active');
    return created;
  };

  const run = (target: ConnectorPool, statement: Statement): Promise<unknown> =>
    target.run(async (lease) => (await execute(lease.client, statement, 30_000)).rows, { timeoutCounts: true });

  it('keeps the pool active when the server refuses a message it cannot read (08P01 at severity ERROR)', async () => {
    const target = await start('PROTOCOL');
    // Sent straight to the driver, past the API's own refusal: the server answers 08P01.
    const bad: Statement[] = [{ sql: 'SELECT 1\u0000' }, { sql: 'SELECT $1::int\u0000', params: [1] }, { sql: 'SELECT 1', params: Array.from({ length: 65_536 }, () => 1) }];
    const calls = Array.from({ length: 24 }, (_, i) => (i % 4 === 3 ? run(target, bad[i % bad.length]!) : run(target, { sql: 'SELECT $1::int AS n', params: [i] })));
    const settled = await Promise.allSettled(calls);
    settled.forEach((outcome, i) => {
      if (i % 4 === 3) expect(outcome).toMatchObject({ status: 'rejected', reason: { code: '08P01' } });
      else expect(outcome).toEqual({ status: 'fulfilled', value: [{ n: i }] });
    });
    expect(target.status()).toMatchObject({ state: ConnectionState.ACTIVE, breaker: BreakerState.CLOSED, lastError: null });
    expect(await run(target, { sql: 'SELECT 2 AS n' })).toEqual([{ n: 2 }]);
  });

  it('survives a leased connection dropped between two statements (no listener would crash the process) and recovers', async () => {
    const target = await start('LEASED');
    const failure: unknown = await target
      .run(async (lease) => {
        const pid = (await lease.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
        // The server's FATAL arrives while this lease waits between statements, when
        // pg-pool has no 'error' listener on the client: unhandled, it would end the process.
        const ended = new Promise((resolve) => lease.client.once('end', resolve));
        await withClient(db.url, (admin) => admin.query('SELECT pg_terminate_backend($1)', [pid]));
        await ended;
        return lease.client.query('SELECT 1');
      }, { timeoutCounts: true })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    await eventually(() => target.state === ConnectionState.ACTIVE, 10_000, 'active again');
    expect(await run(target, { sql: 'SELECT 3 AS n' })).toEqual([{ n: 3 }]);
  });
});
