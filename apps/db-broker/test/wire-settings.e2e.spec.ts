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

  async function client(): Promise<Client> {
    const c = new Client({ connectionString: wireUrl(stack.wirePort, 'SETS', TOKENS.alice) });
    await c.connect();
    clients.push(c);
    return c;
  }

  const show = async (c: Client, name: string): Promise<string> => ((await c.query(`SELECT current_setting('${name}', true) AS v`)).rows[0] as { v: string }).v;

  beforeAll(async () => {
    db = await createTestDatabase('pbwireset');
    stack = await startStack();
    await stack.putDatabase('SETS', db.url, { max: 1, acquireTimeoutMs: 30_000 });
    await stack.waitActive('SETS');
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
});
