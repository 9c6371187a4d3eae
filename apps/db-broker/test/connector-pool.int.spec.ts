import { BreakerState, ConnectionState, type ResolvedConnector } from '@patchbay/core';
import { createTestDatabase, eventually, type TestDatabase } from '@patchbay/testkit';
import { DEFAULT_SETTINGS } from '../src/config/broker-settings';
import { ConnectorPool, type PoolObserver } from '../src/pools/connector-pool';
import { poolSpecOf } from '../src/pools/pool-target';
import { execute, type Statement } from '../src/query/execute';

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
});
