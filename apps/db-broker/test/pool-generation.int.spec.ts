import { ErrorCode, type ResolvedConnector } from '@patchbay/core';
import { Client } from 'pg';
import { createTestDatabase, eventually, type TestDatabase } from '@patchbay/testkit';
import { DEFAULT_SETTINGS } from '../src/config/broker-settings';
import { PoolGeneration } from '../src/pools/pool-generation';
import { poolSpecOf } from '../src/pools/pool-target';

jest.setTimeout(30_000);

describe('PoolGeneration (real Postgres)', () => {
  let db: TestDatabase;
  const generations: PoolGeneration[] = [];

  const generation = (options: Record<string, unknown>): PoolGeneration => {
    const connector: ResolvedConnector = {
      configId: 'GEN',
      type: 'database',
      revision: 1,
      checksum: 'x',
      mode: 'local',
      url: db.url,
      source: 'explicit',
      headers: {},
      options,
    };
    const created = new PoolGeneration(poolSpecOf(connector, DEFAULT_SETTINGS), 'GEN', 'patchbay-db-broker:GEN', {
      onIdleError: () => undefined,
      onAcquired: () => undefined,
    });
    generations.push(created);
    return created;
  };

  beforeAll(async () => {
    db = await createTestDatabase('pbgen');
  });

  afterAll(async () => {
    await Promise.all(generations.map((g) => g.end()));
    await db?.drop();
  });

  it('answers POOL_EXHAUSTED after the acquire timeout when every connection stays busy', async () => {
    const pool = generation({ max: 1, acquireTimeoutMs: 200 });
    const held = await pool.acquire();
    await expect(pool.acquire()).rejects.toMatchObject({ code: ErrorCode.POOL_EXHAUSTED, retryAfterSeconds: 1 });
    held.release();
    const again = await pool.acquire();
    again.release();
  });

  it('runs SELECT 1 on a connection idle past healthCheckIdleMs and replaces one that fails it', async () => {
    // Wide enough that a loaded machine cannot take the release-to-acquire step below for idling.
    const pool = generation({ max: 2, healthCheckIdleMs: 300 });
    const first = await pool.acquire();
    const client = first.client;
    first.release();
    const spy = jest.spyOn(client, 'query');
    // Fresh from release: no check.
    (await pool.acquire()).release();
    expect(spy).not.toHaveBeenCalled();
    await new Promise((r) => setTimeout(r, 350));
    // Idle too long: checked, and a failing check hands out another connection.
    // The broker calls pg's callback form (see runQuery).
    spy.mockImplementationOnce((_sql: string, callback: (error: Error) => void) => {
      process.nextTick(() => callback(new Error('Connection terminated unexpectedly')));
    });
    const lease = await pool.acquire();
    expect(spy).toHaveBeenCalledWith('SELECT 1', expect.any(Function));
    expect(lease.client).not.toBe(client);
    expect((await lease.client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    lease.release();
    spy.mockRestore();
  });

  it('reads no clock for a parked connection under a long health-check threshold, and dates the ones swept back to pg-pool', async () => {
    const pool = generation({ max: 1, healthCheckIdleMs: 10_000 });
    const first = await pool.acquire();
    const client = first.client;
    const clock = jest.spyOn(Date, 'now');
    first.release();
    const again = pool.acquireNow();
    expect(again?.client).toBe(client);
    again?.release();
    expect(clock).not.toHaveBeenCalled();
    clock.mockRestore();
    await eventually(() => pool.pool.idleCount === 1, 5_000, 'back in pg-pool');
    // Idle past the threshold counted from the sweep: checked before it is handed out.
    const query = jest.spyOn(client, 'query');
    const later = jest.spyOn(Date, 'now').mockReturnValue(Date.now() + 11_000);
    try {
      expect(pool.acquireNow()).toBeUndefined();
      const lease = await pool.acquire();
      expect(query).toHaveBeenCalledWith('SELECT 1', expect.any(Function));
      expect(lease.client).toBe(client);
      lease.release();
    } finally {
      later.mockRestore();
      query.mockRestore();
    }
  });

  it('checks out an idle connection synchronously with acquireNow, and none when nothing is idle', async () => {
    const pool = generation({ max: 1, acquireTimeoutMs: 200 });
    expect(pool.acquireNow()).toBeUndefined();
    const first = await pool.acquire();
    const client = first.client;
    expect(pool.acquireNow()).toBeUndefined();
    first.release();
    const now = pool.acquireNow();
    expect(now?.client).toBe(client);
    expect(pool.figures()).toMatchObject({ idle: 0, inUse: 1 });
    expect((await now?.client.query('SELECT 2 AS two'))?.rows).toEqual([{ two: 2 }]);
    now?.release();
    expect(pool.figures()).toMatchObject({ idle: 1, inUse: 0 });
    (await pool.acquire()).release();
  });

  it('keeps a released connection for the next lease, and gives pg-pool the ones no lease took back', async () => {
    const pool = generation({ max: 2 });
    const first = await pool.acquire();
    const client = first.client;
    first.release();
    // Parked: idle for the figures, still checked out of pg-pool.
    expect(pool.figures()).toMatchObject({ total: 1, idle: 1, inUse: 0 });
    expect(pool.pool.idleCount).toBe(0);
    const again = pool.acquireNow();
    expect(again?.client).toBe(client);
    again?.release();
    await eventually(() => pool.pool.idleCount === 1, 5_000, 'back in pg-pool');
    expect(pool.figures()).toMatchObject({ total: 1, idle: 1, inUse: 0 });
    const fromPool = pool.acquireNow();
    expect(fromPool?.client).toBe(client);
    expect((await fromPool?.client.query('SELECT 3 AS three'))?.rows).toEqual([{ three: 3 }]);
    fromPool?.release();
  });

  it('hands out no parked connection whose backend went away', async () => {
    const pool = generation({ max: 2 });
    const first = await pool.acquire();
    const broken = first.client;
    const pid = (broken as unknown as { processID: number }).processID;
    first.release();
    const other = new Client({ connectionString: db.url });
    await other.connect();
    await other.query('SELECT pg_terminate_backend($1)', [pid]);
    await other.end();
    await eventually(() => (broken as unknown as { _queryable: boolean })._queryable === false, 5_000, 'client saw the termination');
    expect(pool.acquireNow()).toBeUndefined();
    const lease = await pool.acquire();
    expect(lease.client).not.toBe(broken);
    expect((await lease.client.query('SELECT 4 AS four')).rows).toEqual([{ four: 4 }]);
    lease.release();
    expect(pool.figures().total).toBe(1);
  });

  it('closes parked connections when it ends', async () => {
    const pool = generation({ max: 2 });
    (await pool.acquire()).release();
    expect(pool.figures()).toMatchObject({ total: 1, idle: 1 });
    await pool.end();
    expect(pool.figures().total).toBe(0);
  });
});
