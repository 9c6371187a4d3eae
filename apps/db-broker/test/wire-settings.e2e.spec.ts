import { createTestDatabase, type TestDatabase } from '@patchbay/testkit';
import { Client } from 'pg';
import postgres from 'postgres';
import { TOKENS, startStack, type Stack } from './support/stack';
import { runTool, wireUrl } from './support/wire-tools';

jest.setTimeout(120_000);

/**
 * Session settings in transaction mode when the statement text does not say what they end
 * up as: SET among several statements, set_config, SET inside a transaction block that
 * commits or rolls back. One server connection, shared in turn with a second client.
 */
describe('db-broker wire front: session settings the broker must read back', () => {
  let db: TestDatabase;
  let stack: Stack;
  const clients: Client[] = [];

  async function client(configId = 'SETS', query = ''): Promise<Client> {
    const c = new Client({ connectionString: wireUrl(stack.wirePort, configId, TOKENS.alice, query) });
    await c.connect();
    clients.push(c);
    return c;
  }

  const show = async (c: Client, name: string): Promise<string> => ((await c.query(`SELECT current_setting('${name}', true) AS v`)).rows[0] as { v: string }).v;

  beforeAll(async () => {
    db = await createTestDatabase('pbwireset');
    stack = await startStack();
    await stack.putDatabase('SETS', db.url, { max: 1, acquireTimeoutMs: 30_000 });
    await stack.putDatabase('SETS2', db.url, { max: 2, acquireTimeoutMs: 30_000 });
    await stack.waitActive('SETS');
    await stack.waitActive('SETS2');
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await stack?.stop();
    await db?.drop();
  });

  it('replays a SET sent among several statements of one simple query, and set_config(..., false)', async () => {
    const first = await client();
    const other = await client();
    await first.query("SET work_mem = '1234kB'; SELECT 1");
    await first.query("SELECT set_config('search_path', 'pg_catalog, public', false)");
    // Extended protocol, the value a parameter.
    await first.query("SELECT set_config('app.tenant', $1, false)", ['acme']);
    for (let i = 0; i < 2; i++) {
      expect(await show(first, 'work_mem')).toBe('1234kB');
      expect(await show(first, 'search_path')).toBe('pg_catalog, public');
      expect(await show(first, 'app.tenant')).toBe('acme');
      expect(await show(other, 'work_mem')).toBe('4MB');
      // Never set by this client: unset, or empty where the server connection saw it before the reset.
      expect(['', null]).toContain(await show(other, 'app.tenant'));
    }
    await first.query("RESET work_mem; SELECT set_config('app.tenant', '', false)");
    expect(await show(first, 'work_mem')).toBe('4MB');
    expect(await show(first, 'app.tenant')).toBe('');
    expect(await show(first, 'search_path')).toBe('pg_catalog, public');
  });

  it('forgets a SET its transaction rolled back (also to a savepoint) and keeps one it committed', async () => {
    const c = await client();
    const other = await client();
    await c.query('BEGIN');
    await c.query("SET lock_timeout = '7s'");
    await c.query('ROLLBACK');
    expect(await show(c, 'lock_timeout')).toBe('0');

    await c.query('BEGIN');
    await c.query("SET lock_timeout = '3s'");
    await c.query('SAVEPOINT s');
    await c.query("SET idle_in_transaction_session_timeout = '9s'");
    await c.query('ROLLBACK TO SAVEPOINT s');
    await c.query('COMMIT');
    await other.query('SELECT 1');
    expect(await show(c, 'lock_timeout')).toBe('3s');
    expect(await show(c, 'idle_in_transaction_session_timeout')).toBe('0');
    expect(await show(other, 'lock_timeout')).toBe('0');

    // A whole transaction in one simple query, rolled back.
    await c.query("BEGIN; SET lock_timeout = '5s'; ROLLBACK");
    expect(await show(c, 'lock_timeout')).toBe('3s');
  });

  it('holds for postgres.js (pipelined extended protocol) and psql scripts', async () => {
    const sql = postgres(wireUrl(stack.wirePort, 'SETS', TOKENS.alice), { max: 1, onnotice: () => undefined });
    try {
      await sql.begin(async (tx) => {
        await tx`SELECT set_config('app.mode', 'inside', false)`;
        await tx`SET statement_timeout = '2500ms'`;
      });
      const [row] = await sql<{ mode: string; timeout: string }[]>`SELECT current_setting('app.mode') AS mode, current_setting('statement_timeout') AS timeout`;
      expect(row).toEqual({ mode: 'inside', timeout: '2500ms' });
    } finally {
      await sql.end();
    }
    const run = await runTool(
      'psql',
      [wireUrl(stack.wirePort, 'SETS', TOKENS.alice), '-XAtq', '-v', 'ON_ERROR_STOP=1'],
      {},
      "BEGIN;\nSET work_mem = '2MB';\nROLLBACK;\nSET work_mem = '3MB'\\; SELECT 'x';\nSHOW work_mem;\n",
    );
    expect(run.stderr).toBe('');
    expect(run.stdout.trim().split('\n')).toEqual(['x', '3MB']);
  });

  describe('RESET ALL and DISCARD ALL (two server connections)', () => {
    /**
     * Runs `work` on `c` while another client holds the server connection `c` used last in
     * an open transaction, so `c` is served by the other one; returns the pid that served it.
     */
    async function onTheOtherConnection<T>(c: Client, work: () => Promise<T>): Promise<{ pid: number; result: T }> {
      const last = await pid(c);
      const holder = await client('SETS2');
      await holder.query('BEGIN');
      // The connection c just gave back is the one the holder gets (the newest idle one).
      expect(await pid(holder)).toBe(last);
      try {
        const served = await pid(c);
        expect(served).not.toBe(last);
        return { pid: served, result: await work() };
      } finally {
        await holder.query('COMMIT');
        await holder.end();
      }
    }
    const pid = async (c: Client): Promise<number> => ((await c.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number }).pid;
    /** As Postgres: RESET ALL goes back to the values of the startup packet, not the server defaults. */
    const START = '?options=' + encodeURIComponent('-c work_mem=2MB');

    it('RESET ALL takes a client back to its startup settings on every server connection it gets next', async () => {
      const c = await client('SETS2', START);
      expect(await show(c, 'work_mem')).toBe('2MB');
      await c.query("SET work_mem = '8MB'");
      await c.query("SET lock_timeout = '4s'");
      await onTheOtherConnection(c, async () => {
        expect(await show(c, 'work_mem')).toBe('8MB');
        expect(await show(c, 'lock_timeout')).toBe('4s');
      });
      await c.query('RESET ALL');
      for (let i = 0; i < 2; i++) {
        await onTheOtherConnection(c, async () => {
          expect(await show(c, 'work_mem')).toBe('2MB');
          expect(await show(c, 'lock_timeout')).toBe('0');
        });
      }
      // A SET after the RESET ALL is kept again.
      await c.query("SET lock_timeout = '6s'");
      await onTheOtherConnection(c, async () => expect(await show(c, 'lock_timeout')).toBe('6s'));
      // Inside a transaction block (the broker reads the settings back when it commits).
      await c.query("SET work_mem = '8MB'");
      await c.query('BEGIN');
      await c.query('RESET ALL');
      await c.query('COMMIT');
      await onTheOtherConnection(c, async () => {
        expect(await show(c, 'work_mem')).toBe('2MB');
        expect(await show(c, 'lock_timeout')).toBe('0');
      });
    });

    it('DISCARD ALL resets settings the same way and forgets the client’s prepared statements (26000, as Postgres), not other clients’', async () => {
      const c = await client('SETS2', START);
      const other = await client('SETS2');
      await c.query("SET work_mem = '8MB'");
      await c.query({ name: 'mine', text: 'SELECT 1 AS one' });
      await other.query({ name: 'theirs', text: 'SELECT 2 AS two' });
      await c.query('DISCARD ALL');
      for (let i = 0; i < 2; i++) {
        await onTheOtherConnection(c, async () => expect(await show(c, 'work_mem')).toBe('2MB'));
      }
      // node-postgres believes 'mine' is still prepared and sends only Bind/Execute, as it would to Postgres.
      await expect(c.query({ name: 'mine', text: 'SELECT 1 AS one' })).rejects.toMatchObject({ code: '26000' });
      // The same text under a new name is prepared again; the other client's statement lives on.
      expect((await c.query({ name: 'mine_again', text: 'SELECT 1 AS one' })).rows).toEqual([{ one: 1 }]);
      expect((await other.query({ name: 'theirs', text: 'SELECT 2 AS two' })).rows).toEqual([{ two: 2 }]);
      await c.query('DEALLOCATE ALL');
      await expect(c.query({ name: 'mine_again', text: 'SELECT 1 AS one' })).rejects.toMatchObject({ code: '26000' });
      expect((await other.query({ name: 'theirs', text: 'SELECT 2 AS two' })).rows).toEqual([{ two: 2 }]);
    });
  });
});
