import { ConnectionState, type ResolvedConnector } from '@patchbay/core';
import { createTestDatabase, eventually, type TestDatabase } from '@patchbay/testkit';
import { DEFAULT_SETTINGS } from '../src/config/broker-settings';
import { isConnectionError, mapPgError } from '../src/errors/pg-errors';
import { ConnectorPool, type PoolObserver } from '../src/pools/connector-pool';
import { poolSpecOf } from '../src/pools/pool-target';
import { withClient } from './support/stack';

jest.setTimeout(30_000);

const quietObserver: PoolObserver = {
  stateChanged: () => undefined,
  breakerChanged: () => undefined,
  swapped: () => undefined,
  drained: () => undefined,
  reconnectAttempt: () => undefined,
  acquired: () => undefined,
  idleError: () => undefined,
};

describe('ConnectorPool: which errors mean the database is down (real Postgres)', () => {
  let db: TestDatabase;
  let pool: ConnectorPool;

  beforeAll(async () => {
    db = await createTestDatabase('pbclass');
  });

  beforeEach(async () => {
    const connector: ResolvedConnector = { configId: 'CLASS', type: 'database', revision: 1, checksum: 'x', mode: 'local', url: db.url, source: 'explicit', headers: {}, options: { max: 2 } };
    pool = new ConnectorPool({ configId: 'CLASS', revision: 1, spec: poolSpecOf(connector, DEFAULT_SETTINGS), observer: quietObserver, reconnectMaxMs: 50, drainTimeoutMs: 500, instance: 'test' });
    pool.start();
    await eventually(() => pool.state === ConnectionState.ACTIVE, 10_000, 'pool active');
  });

  afterEach(async () => {
    await pool?.close(500);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it("fails only its own call on the server's protocol error for a NUL in SQL text (08P01), leaving the pool active", async () => {
    // Sent on the driver itself, past the broker's own up-front check, to get the server's answer.
    const failure: unknown = await pool.run((lease) => lease.client.query('SELECT 1\0'), { timeoutCounts: true }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: '08P01' });
    expect(isConnectionError(failure)).toBe(false);
    expect(mapPgError(failure)).toMatchObject({ code: 'VALIDATION', status: 400 });
    expect(pool.state).toBe(ConnectionState.ACTIVE);
    expect(pool.status().lastError).toBeNull();
    const next = await pool.run((lease) => lease.client.query('SELECT 2 AS x'), { timeoutCounts: true });
    expect(next.rows).toEqual([{ x: 2 }]);
  });

  it('counts a terminated backend (57P01, FATAL) as connection loss, and clears lastError once active again', async () => {
    const failure: unknown = await pool
      .run(async (lease) => {
        const pid = (await lease.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
        await withClient(db.url, (admin) => admin.query('SELECT pg_terminate_backend($1)', [pid]));
        return lease.client.query('SELECT 1');
      }, { timeoutCounts: true })
      .catch((error: unknown) => error);
    expect(isConnectionError(failure)).toBe(true);
    expect([ConnectionState.RETRYING, ConnectionState.ACTIVE]).toContain(pool.state);
    await eventually(() => pool.state === ConnectionState.ACTIVE, 10_000, 'reconnected');
    expect(pool.status().lastError).toBeNull();
  });
});
