import { neon, neonConfig, NeonDbError } from '@neondatabase/serverless';
import { createTestDatabase, type TestDatabase } from '@patchbay/testkit';
import { TOKENS, startStack, type Stack } from './support/stack';

jest.setTimeout(120_000);

/** The driver itself, pointed at the broker's POST /sql (its fetchEndpoint option). */
describe('db-broker POST /sql with @neondatabase/serverless', () => {
  let db: TestDatabase;
  let stack: Stack;
  const connection = (token = TOKENS.alice, configId = 'NEON'): string => `postgresql://agent:${encodeURIComponent(token)}@broker.example/${configId}`;

  beforeAll(async () => {
    db = await createTestDatabase('pbneon');
    stack = await startStack({ PATCHBAY_DB_MAX_ROWS: '500', PATCHBAY_DB_MAX_RESPONSE_BYTES: '65536' });
    await stack.putDatabase('NEON', db.url, { max: 3 });
    await stack.waitActive('NEON');
    neonConfig.fetchEndpoint = () => `${stack.broker.url}/sql`;
    await neon(
      connection(),
    )`CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL, tags text[], opened timestamptz DEFAULT now())`;
  });

  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('runs tagged-template and sql.query statements with typed values', async () => {
    const sql = neon(connection());
    await sql`INSERT INTO accounts (id, owner, balance, tags) VALUES (${1}, ${'ada'}, ${'10.50'}, ${['a', 'b']})`;
    const rows = await sql`SELECT id, owner, balance, tags, opened, NULL AS nothing FROM accounts WHERE id = ${1}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: 1, owner: 'ada', balance: '10.50', tags: ['a', 'b'], nothing: null });
    expect(rows[0]?.['opened']).toBeInstanceOf(Date);
    expect(await sql.query('SELECT $1::int + 1 AS n', [41])).toEqual([{ n: 42 }]);
  });

  it('answers array mode and full results with the field metadata', async () => {
    const sql = neon(connection(), { fullResults: true, arrayMode: true });
    const result = await sql`SELECT id, owner FROM accounts ORDER BY id`;
    expect(result.rows).toEqual([[1, 'ada']]);
    expect(result.command).toBe('SELECT');
    expect(result.rowCount).toBe(1);
    expect(result.fields.map((f) => [f.name, f.dataTypeID])).toEqual([
      ['id', 23],
      ['owner', 25],
    ]);
    expect(result.fields[0]).toMatchObject({ tableID: expect.any(Number), columnID: 1, dataTypeSize: 4, format: 'text' });
  });

  it('runs sql.transaction all-or-nothing, with isolation level and read-only options', async () => {
    const sql = neon(connection());
    const [, , count] = await sql.transaction([
      sql`INSERT INTO accounts (id, owner, balance) VALUES (2, 'bob', 5)`,
      sql`UPDATE accounts SET balance = balance + 1 WHERE id = 2`,
      sql`SELECT count(*)::int AS n FROM accounts`,
    ]);
    expect(count).toEqual([{ n: 2 }]);
    const failed = await sql
      .transaction((tx) => [
        tx`INSERT INTO accounts (id, owner, balance) VALUES (3, 'cy', 1)`,
        tx`INSERT INTO accounts (id, owner, balance) VALUES (1, 'dup', 1)`,
      ])
      .catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(NeonDbError);
    expect(failed).toMatchObject({ code: '23505', constraint: 'accounts_pkey', detail: expect.stringContaining('(id)=(1)') });
    expect(await sql`SELECT count(*)::int AS n FROM accounts`).toEqual([{ n: 2 }]);

    const modes = await sql.transaction([sql`SHOW transaction_isolation`, sql`SHOW transaction_read_only`], {
      isolationLevel: 'Serializable',
      readOnly: true,
      deferrable: true,
    });
    expect(modes).toEqual([[{ transaction_isolation: 'serializable' }], [{ transaction_read_only: 'on' }]]);
    await expect(sql.transaction([sql`INSERT INTO accounts (id, owner, balance) VALUES (9, 'ro', 1)`], { readOnly: true })).rejects.toMatchObject({
      code: '25006',
    });
  });

  it('reports Postgres errors with the fields the driver reads (code, position, severity)', async () => {
    const sql = neon(connection());
    await expect(sql`SELECT * FROM no_such_table`).rejects.toMatchObject({ name: 'NeonDbError', code: '42P01', position: '15', severity: 'ERROR' });
    await expect(sql`SELECT ${'x'}::int`).rejects.toMatchObject({ code: '22P02' });
  });

  it('carries the hint and detail of a RAISE ... USING HINT onto the NeonDbError', async () => {
    const sql = neon(connection());
    const raised =
      await sql`DO $$ BEGIN RAISE EXCEPTION 'balance too low' USING ERRCODE = '22023', DETAIL = 'account 1 holds 10.50', HINT = 'top up first'; END $$`.catch(
        (error: unknown) => error,
      );
    expect(raised).toBeInstanceOf(NeonDbError);
    expect(raised).toMatchObject({ message: 'balance too low', code: '22023', detail: 'account 1 holds 10.50', hint: 'top up first', severity: 'ERROR' });
  });

  it('runs a Neon-Batch-Deferrable transaction as SERIALIZABLE READ ONLY DEFERRABLE', async () => {
    const sql = neon(connection());
    const modes = sql`SELECT current_setting('transaction_isolation') AS isolation, current_setting('transaction_read_only') AS read_only, current_setting('transaction_deferrable') AS deferrable`;
    expect(await sql.transaction([modes], { isolationLevel: 'Serializable', readOnly: true, deferrable: true })).toEqual([
      [{ isolation: 'serializable', read_only: 'on', deferrable: 'on' }],
    ]);
    expect(await sql.transaction([modes], { isolationLevel: 'Serializable', readOnly: true, deferrable: false })).toEqual([
      [{ isolation: 'serializable', read_only: 'on', deferrable: 'off' }],
    ]);
    // Without the header, the database's default.
    expect(await sql.transaction([modes])).toEqual([[{ isolation: 'read committed', read_only: 'off', deferrable: 'off' }]]);
  });

  it("refuses a result over the byte limit with a 413 in Neon's error shape", async () => {
    await expect(neon(connection())`SELECT repeat('x', 70000) AS big`).rejects.toThrow(/HTTP status 413.*the limit is 65536/);
    const response = await fetch(`${stack.broker.url}/sql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.alice}`, 'neon-connection-string': connection() },
      body: JSON.stringify({ queries: [{ query: "SELECT repeat('x', 40000) AS a" }, { query: "SELECT repeat('y', 40000) AS b" }] }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/^response would be \d+ bytes, the limit is 65536/) });
    // Under the limit, the same statement is served.
    expect(await neon(connection())`SELECT length(repeat('x', 70000)) AS n`).toEqual([{ n: 70000 }]);
  });

  it('takes the token as authToken too, and refuses bad tokens, other connectors and oversized results', async () => {
    const viaAuthToken = neon('postgresql://agent@broker.example/NEON', { authToken: TOKENS.alice });
    expect(await viaAuthToken`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    await expect(neon(connection('wrong-token'))`SELECT 1`).rejects.toThrow(/HTTP status 401/);
    await expect(neon(connection(TOKENS.limited))`SELECT 1`).rejects.toThrow(/HTTP status 403/);
    await expect(neon(connection(TOKENS.alice, 'NOPE'))`SELECT 1`).rejects.toThrow(/HTTP status 404/);
    await expect(neon(connection())`SELECT g FROM generate_series(1, 501) g`).rejects.toThrow(/HTTP status 413.*limit is 500/);
  });

  it('answers malformed requests with a 400 naming what to fix', async () => {
    const post = (body: unknown, headers: Record<string, string>): Promise<Response> =>
      fetch(`${stack.broker.url}/sql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const auth = { authorization: `Bearer ${TOKENS.alice}` };
    const noConnection = await post({ query: 'SELECT 1' }, auth);
    expect(noConnection.status).toBe(400);
    expect(await noConnection.json()).toMatchObject({ message: expect.stringContaining('Neon-Connection-String') });
    const badBody = await post({ sql: 'SELECT 1' }, { ...auth, 'neon-connection-string': connection() });
    expect(badBody.status).toBe(400);
    const badIsolation = await post(
      { queries: [{ query: 'SELECT 1' }] },
      { ...auth, 'neon-connection-string': connection(), 'neon-batch-isolation-level': 'Chaos' },
    );
    expect(badIsolation.status).toBe(400);
    expect(await badIsolation.json()).toMatchObject({ message: expect.stringContaining('Serializable') });
    const ok = await post({ query: 'SELECT $1::int AS v', params: ['7'] }, { ...auth, 'neon-connection-string': connection() });
    expect(await ok.json()).toMatchObject({ command: 'SELECT', rowCount: 1, rows: [{ v: 7 }], rowAsArray: false });
  });
});
