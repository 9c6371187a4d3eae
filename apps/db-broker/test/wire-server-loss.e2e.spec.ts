import { eventually } from '@patchbay/testkit';
import { Client } from 'pg';
import { startPrivatePostgres, type PrivatePostgres } from './support/private-postgres';
import { TOKENS, startStack, withClient, type Stack } from './support/stack';
import { failure, wireUrl } from './support/wire-tools';

jest.setTimeout(180_000);

/**
 * Wire clients whose database goes away under them: a terminated server connection (what a
 * DBA's pg_terminate_backend, a failover or an OOM kill does) and a database that is down
 * for a while. A private Postgres, since one test stops it.
 */
describe('db-broker wire front: a connected client losing its database', () => {
  let pg: PrivatePostgres;
  let stack: Stack;
  const clients: Client[] = [];

  async function client(configId = 'LOSS'): Promise<Client> {
    const c = new Client({ connectionString: wireUrl(stack.wirePort, configId, TOKENS.alice) });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  }

  /** Terminates the broker's server connections of `configId` (all, or those running `running`); how many. */
  const terminate = (configId: string, running?: string): Promise<number> =>
    withClient(pg.url, async (c) => {
      const r = await c.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND ($2::text IS NULL OR query = $2)`,
        [`patchbay-db-broker:${configId}`, running ?? null],
      );
      return r.rows[0]?.n ?? 0;
    });
  const serverConnections = async (configId: string): Promise<number> => (await stack.broker$('GET', `/v1/databases/${configId}`)).body.pool.total;

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    stack = await startStack();
    await stack.putDatabase('LOSS', pg.url, { max: 2, acquireTimeoutMs: 10_000 });
    await stack.waitActive('LOSS');
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await stack?.stop();
    await pg?.destroy();
  });

  it("gives a client whose running statement's server connection is terminated Postgres' own FATAL 57P01, then closes it (as PgBouncer does)", async () => {
    const victim = await client();
    const bystander = await client();
    const ended = new Promise<void>((resolve) => victim.on('end', () => resolve()));
    const running = failure(() => victim.query('SELECT pg_sleep(30)'));
    await eventually(async () => (await terminate('LOSS', 'SELECT pg_sleep(30)')) === 1, 10_000, 'the statement running, then terminated');
    // The session the client was in is gone with its transaction: the FATAL is relayed as
    // Postgres sent it, and the client connection ends rather than going on as if nothing
    // happened (libpq and node-postgres treat a FATAL as the end of the connection anyway).
    expect(await running).toMatchObject({ code: '57P01', message: 'terminating connection due to administrator command' });
    await ended;
    // Only that client: another connected client and a new one are served at once.
    expect((await bystander.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    const next = await client();
    expect((await next.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });

  it('serves idle clients whose pooled server connections were all terminated on their next query, transparently', async () => {
    const idle = await Promise.all([client(), client(), client()]);
    // Both server connections open and back in the pool, the clients idle between transactions.
    await Promise.all(idle.map((c) => c.query('SELECT pg_sleep(0.05)')));
    const before = await withClient(
      pg.url,
      async (c) => (await c.query("SELECT pid FROM pg_stat_activity WHERE application_name = 'patchbay-db-broker:LOSS'")).rows,
    );
    expect(before.length).toBe(2);
    expect(await terminate('LOSS')).toBe(2);
    // The broker sees them go (the FATAL and the close arrive on idle sockets).
    await eventually(async () => (await serverConnections('LOSS')) === 0, 10_000, 'pool emptied');
    for (const c of idle) {
      const r = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(before.map((row) => (row as { pid: number }).pid)).not.toContain(r.rows[0]?.pid);
    }
    // Named prepared statements are prepared again on the new server connections.
    for (const c of idle) expect((await c.query({ name: 'again', text: 'SELECT 3 AS three' })).rows).toEqual([{ three: 3 }]);
    await terminate('LOSS');
    await eventually(async () => (await serverConnections('LOSS')) === 0, 10_000, 'pool emptied again');
    for (const c of idle) expect((await c.query({ name: 'again', text: 'SELECT 3 AS three' })).rows).toEqual([{ three: 3 }]);
  });

  it('gives a client connected before an outage a fast, clear 08006 while the database is down, and serves it again once it is back', async () => {
    const c = await client();
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pg.stop();
    // The first statement may meet a dead server connection; from then on the pool is known down.
    await eventually(
      async () => {
        await c.query('SELECT 1').catch(() => undefined);
        return (await stack.broker$('GET', '/v1/databases/LOSS')).body.state === 'retrying';
      },
      20_000,
      'pool retrying',
    );
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const refused = await failure(() => c.query('SELECT 1'));
      expect(refused).toMatchObject({ code: '08006', message: expect.stringContaining("database 'LOSS' is unreachable") });
      // Well under the 10 s acquire timeout each: the broker knows the database is down.
      expect(Date.now() - started).toBeLessThan(5_000);
    }
    // Refused statements leave the client connected, outside any transaction.
    await pg.start();
    await eventually(async () => (await c.query('SELECT 4 AS four').catch(() => undefined))?.rows[0]?.four === 4, 30_000, 'served again');
    await c.query('BEGIN');
    expect((await c.query('SELECT 5 AS five')).rows).toEqual([{ five: 5 }]);
    await c.query('COMMIT');
  });
});
