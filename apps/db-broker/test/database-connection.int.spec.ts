import { BreakerState, ConnectionState, type ResolvedConnector } from '@patchbay/core';
import { ManagedConnection } from '@patchbay/nest';
import { createTestDatabase, eventually, type TestDatabase } from '@patchbay/testkit';
import { DEFAULT_SETTINGS } from '../src/config/broker-settings';
import { DatabaseDriver, type DatabaseConnection } from '../src/pools/database-driver';
import { withLease } from '../src/pools/leased';
import { poolSpecOf } from '../src/pools/pool-target';
import { execute, type Statement } from '../src/query/execute';
import { withClient } from './support/stack';

jest.setTimeout(30_000);

const driver = (): DatabaseDriver => new DatabaseDriver(DEFAULT_SETTINGS, { openSessions: () => 0, acquired: () => undefined, idleError: () => undefined });

describe('a database connection on the kit runtime (real Postgres)', () => {
  let db: TestDatabase;
  let pool: DatabaseConnection | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('pbcpool');
  });

  afterEach(async () => {
    await pool?.close('shutdown', 1000);
  });

  afterAll(async () => {
    await db?.drop();
  });

  const connectorFor = (configId: string, options: Record<string, unknown>, url = db.url): ResolvedConnector => ({
    configId,
    type: 'database',
    revision: 1,
    checksum: 'x',
    mode: 'local',
    url,
    source: 'explicit',
    headers: {},
    options,
  });

  const start = async (configId: string, options: Record<string, unknown> = { max: 2 }): Promise<DatabaseConnection> => {
    const created = new ManagedConnection({
      id: configId,
      configId,
      revision: 1,
      spec: poolSpecOf(connectorFor(configId, options), DEFAULT_SETTINGS),
      driver: driver(),
      noun: 'database',
    });
    pool = created;
    created.start();
    await eventually(() => created.state === ConnectionState.ACTIVE, 10_000, 'active');
    return created;
  };

  const run = (target: DatabaseConnection, statement: Statement): Promise<unknown> =>
    withLease(target, async (lease) => (await execute(lease.client, statement, 30_000)).rows, { timeoutCounts: true });

  it('keeps the pool active when the server refuses a message it cannot read (08P01 at severity ERROR)', async () => {
    const target = await start('PROTOCOL');
    // Sent straight to the driver, past the API's own refusal: the server answers 08P01.
    const bad: Statement[] = [
      { sql: 'SELECT 1\u0000' },
      { sql: 'SELECT $1::int\u0000', params: [1] },
      { sql: 'SELECT 1', params: Array.from({ length: 65_536 }, () => 1) },
    ];
    const calls = Array.from({ length: 24 }, (_, i) =>
      i % 4 === 3 ? run(target, bad[i % bad.length]!) : run(target, { sql: 'SELECT $1::int AS n', params: [i] }),
    );
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
    const failure: unknown = await withLease(
      target,
      async (lease) => {
        const pid = (await lease.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
        // The server's FATAL arrives while this lease waits between statements, when
        // pg-pool has no 'error' listener on the client: unhandled, it would end the process.
        const ended = new Promise((resolve) => lease.client.once('end', resolve));
        await withClient(db.url, (admin) => admin.query('SELECT pg_terminate_backend($1)', [pid]));
        await ended;
        return lease.client.query('SELECT 1');
      },
      { timeoutCounts: true },
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    await eventually(() => target.state === ConnectionState.ACTIVE, 10_000, 'active again');
    expect(await run(target, { sql: 'SELECT 3 AS n' })).toEqual([{ n: 3 }]);
  });

  it('drains on a swap: leases out and callers queued in pg finish on the old pool before it ends', async () => {
    const target = await start('SWAP', { max: 2 });
    const old = await target.lease();
    const held = await Promise.all([old.handle.acquire(), old.handle.acquire()]);
    // Five callers wait in pg's queue for the two busy connections.
    const queued = Array.from({ length: 5 }, () => run(target, { sql: 'SELECT 1 AS ok' }));
    await eventually(() => old.handle.figures().waiting === 5, 5_000, 'five waiting');
    target.update(2, poolSpecOf(connectorFor('SWAP', { max: 3 }), DEFAULT_SETTINGS));
    expect(await run(target, { sql: 'SELECT 2 AS ok' })).toEqual([{ ok: 2 }]);
    expect(target.status()).toMatchObject({ drainingPools: 1, pool: { waiting: 5 } });
    expect(old.handle.isEnded).toBe(false);
    for (const lease of held) lease.release();
    old.release();
    expect(await Promise.all(queued)).toEqual(Array(5).fill([{ ok: 1 }]));
    await eventually(() => old.handle.isEnded, 5_000, 'old pool ended');
    expect(old.handle.figures().total).toBe(0);
    expect(target.status()).toMatchObject({ drainingPools: 0, pool: { max: 3 } });
  });
});
