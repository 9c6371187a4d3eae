import { createTestDatabase, eventually, freePort, type TestDatabase } from '@patchbay/testkit';
import { Client } from 'pg';
import { TOKENS, startStack, withClient, type Stack } from './support/stack';
import { cstring, int32, message } from '../src/wire/protocol';
import { failure, rawExchange, sendCancel, wireUrl } from './support/wire-tools';

jest.setTimeout(180_000);

describe('db-broker wire front: auth, isolation between clients, refusals, cancel, outage', () => {
  let a: TestDatabase;
  let b: TestDatabase;
  let stack: Stack;
  const clients: Client[] = [];

  async function client(configId: string, token: string = TOKENS.alice): Promise<Client> {
    const c = new Client({ connectionString: wireUrl(stack.wirePort, configId, token) });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    [a, b] = await Promise.all([createTestDatabase('pbwireb'), createTestDatabase('pbwireb')]);
    await withClient(a.url, (c) => c.query("CREATE TABLE marker (name text); INSERT INTO marker VALUES ('A')"));
    await withClient(b.url, (c) => c.query("CREATE TABLE marker (name text); INSERT INTO marker VALUES ('B')"));
    stack = await startStack();
    await stack.putDatabase('ONE', a.url, { max: 1, acquireTimeoutMs: 30_000 });
    await stack.putDatabase('SESS', a.url, { max: 2, poolMode: 'session' });
    await stack.waitActive('ONE');
    await stack.waitActive('SESS');
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await stack?.stop();
    await a?.drop();
    await b?.drop();
  });

  it('answers a bad token 28P01, an unknown connector 3D000, a token without use or outside its allow-list 42501', async () => {
    expect(await failure(() => client('ONE', 'not-a-token'))).toMatchObject({ code: '28P01' });
    expect(await failure(() => client('NOPE'))).toMatchObject({ code: '3D000', message: expect.stringContaining('NOPE') });
    expect(await failure(() => client('ONE', TOKENS.reader))).toMatchObject({ code: '42501', message: expect.stringContaining("'use'") });
    expect(await failure(() => client('ONE', TOKENS.limited))).toMatchObject({ code: '42501', message: expect.stringContaining('ONE') });
    const logs = stack.broker.logs();
    expect(logs).not.toContain(TOKENS.alice);
    expect(logs).not.toContain('not-a-token');
  });

  it('keeps a client SET across its transactions and out of other clients on the same server connection', async () => {
    const first = await client('ONE');
    const second = await client('ONE');
    await first.query("SET statement_timeout = '4321ms'");
    await first.query('SET application_name = first_app');
    // One server connection (max 1): both clients are served by it in turn.
    for (let i = 0; i < 3; i++) {
      expect((await first.query('SHOW statement_timeout')).rows[0]).toEqual({ statement_timeout: '4321ms' });
      expect((await second.query('SHOW statement_timeout')).rows[0]).toEqual({ statement_timeout: '30s' });
    }
    const rest = await stack.broker$('POST', '/v1/databases/ONE/query', { sql: 'SHOW statement_timeout' });
    expect(rest.body.rows).toEqual([{ statement_timeout: '30s' }]);
    await first.query('RESET statement_timeout');
    expect((await first.query('SHOW statement_timeout')).rows[0]).toEqual({ statement_timeout: '30s' });
    // Temp tables do not survive into the next client's transaction.
    await first.query('CREATE TEMP TABLE scratch (x int)');
    expect(await failure(() => second.query('SELECT * FROM scratch'))).toMatchObject({ code: '42P01' });
    // SET LOCAL stays inside its transaction.
    await second.query('BEGIN');
    await second.query("SET LOCAL statement_timeout = '999ms'");
    expect((await second.query('SHOW statement_timeout')).rows[0]).toEqual({ statement_timeout: '999ms' });
    await second.query('COMMIT');
    expect((await second.query('SHOW statement_timeout')).rows[0]).toEqual({ statement_timeout: '30s' });
  });

  it('refuses LISTEN and session advisory locks in transaction mode with 0A000, and serves them in session mode', async () => {
    const c = await client('ONE');
    expect(await failure(() => c.query('LISTEN jobs'))).toMatchObject({ code: '0A000', message: expect.stringContaining('poolMode') });
    expect(await failure(() => c.query('SELECT pg_advisory_lock(42)'))).toMatchObject({ code: '0A000' });
    expect(await failure(() => c.query({ text: 'SELECT pg_try_advisory_lock($1)', values: [1] }))).toMatchObject({ code: '0A000' });
    // Quoted or schema-qualified, it is the same function.
    expect(await failure(() => c.query('SELECT "pg_advisory_lock"(43)'))).toMatchObject({ code: '0A000' });
    expect(await failure(() => c.query({ text: 'SELECT pg_catalog.pg_advisory_lock($1)', values: [44] }))).toMatchObject({ code: '0A000' });
    const held = await withClient(a.url, async (admin) => (await admin.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'")).rows[0]);
    expect(held).toEqual({ n: 0 });
    // The client is usable after a refusal, and transaction-scoped locks are fine.
    expect((await c.query('SELECT pg_advisory_xact_lock(42), 1 AS ok')).rows[0]).toMatchObject({ ok: 1 });

    const listener = await client('SESS');
    const notifier = await client('SESS');
    await listener.query('LISTEN jobs');
    const received = new Promise<string>((resolve) => listener.on('notification', (n) => resolve(n.payload ?? '')));
    await notifier.query("NOTIFY jobs, 'hello'");
    expect(await received).toBe('hello');
    await listener.query('CREATE TEMP TABLE mine (x int)');
    await listener.end();
    await notifier.end();
    // Its server connection went back reset: a new session sees no temp table and no LISTEN.
    const next = await client('SESS');
    const other = await client('SESS');
    for (const c2 of [next, other]) {
      expect((await c2.query('SELECT count(*)::int AS n FROM pg_listening_channels()')).rows[0]).toEqual({ n: 0 });
      expect(await failure(() => c2.query('SELECT * FROM mine'))).toMatchObject({ code: '42P01' });
    }
  });

  it('destroys the server connection of a client that leaves mid-transaction instead of handing it on', async () => {
    const leaver = await client('ONE');
    await leaver.query('CREATE TABLE IF NOT EXISTS left_behind (x int)');
    await leaver.query('BEGIN');
    await leaver.query('INSERT INTO left_behind VALUES (1)');
    (leaver as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    const next = await client('ONE');
    // Same single server connection slot: the next client starts outside any transaction, the insert rolled back.
    expect((await next.query('SELECT count(*)::int AS n FROM left_behind')).rows).toEqual([{ n: 0 }]);
    await next.query('BEGIN');
    await next.query('COMMIT');
  });

  it("fails only the client whose statement is bad (syntax error, NUL byte) and keeps everyone's prepared statements", async () => {
    const bad = await client('ONE');
    const good = await client('ONE');
    await good.query({ name: 'two', text: 'SELECT 2 AS two' });
    expect(await failure(() => bad.query('SELEC nonsense'))).toMatchObject({ code: '42601' });
    expect(await failure(() => bad.query('SELECT 1\u0000'))).toMatchObject({ code: expect.stringMatching(/^(08P01|22021|42601)$/) });
    expect(await failure(() => bad.query({ text: 'SELECT $1::int', values: ['x'] }))).toMatchObject({ code: '22P02' });
    expect((await good.query({ name: 'two', text: 'SELECT 2 AS two' })).rows).toEqual([{ two: 2 }]);
    expect((await bad.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    // An aborted transaction stays the client's own until it rolls back.
    await bad.query('BEGIN');
    await failure(() => bad.query('SELECT 1/0'));
    expect(await failure(() => bad.query('SELECT 1'))).toMatchObject({ code: '25P02' });
    await bad.query('ROLLBACK');
    expect((await good.query({ name: 'two', text: 'SELECT 2 AS two' })).rows).toEqual([{ two: 2 }]);
    // SQL DEALLOCATE of a protocol-level statement (PHP PDO's way) closes the client's own statement only.
    await good.query('DEALLOCATE two');
    expect(await failure(() => good.query('DEALLOCATE two'))).toMatchObject({ code: '26000' });
  });

  it('keeps at most 200 broker-named statements per server connection and prepares evicted ones again', async () => {
    const c = await client('ONE');
    for (let i = 0; i < 250; i++) await c.query({ name: `s${i}`, text: `SELECT ${i}::int AS v` });
    for (const i of [0, 1, 120, 249, 0]) expect((await c.query({ name: `s${i}`, text: `SELECT ${i}::int AS v` })).rows).toEqual([{ v: i }]);
    const held = await c.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'pb\\_%'");
    expect(held.rows[0]?.n).toBeGreaterThan(100);
    expect(held.rows[0]?.n).toBeLessThanOrEqual(200);
  });

  it('serves a named portal of a named statement a few rows at a time, as JDBC with a fetch size does', async () => {
    const c = await client('ONE');
    const int16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
    const frames = await rawExchange(c, [
      message('P', cstring('gen'), cstring('SELECT g::text AS g FROM generate_series(1, $1::int) g'), int16(0)),
      message('B', cstring('cursor_1'), cstring('gen'), int16(0), int16(1), int32(1), Buffer.from('3'), int16(0)),
      message('E', cstring('cursor_1'), int32(2)),
      message('E', cstring('cursor_1'), int32(2)),
      message('S'),
    ]);
    expect(frames.map((f) => String.fromCharCode(f.type)).join('')).toBe('12DDsDCZ');
    const rows = frames.filter((f) => f.type === 0x44).map((f) => f.body.toString('utf8', 6));
    expect(rows).toEqual(['1', '2', '3']);
    // The portal ended with its transaction; the server connection (the only one) serves the next client.
    const next = await client('ONE');
    expect((await next.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('forwards a cancel request to the server running the statement (57014)', async () => {
    const c = await client('ONE');
    const running = failure(() => c.query('SELECT pg_sleep(30)'));
    await eventually(async () => (await stack.broker$('GET', '/v1/databases/ONE')).body.wire.serverConnections === 1, 10_000, 'statement running');
    await sendCancel(stack.wirePort, c);
    // The user's cancel, not the statement timeout (also 57014).
    expect(await running).toMatchObject({ code: '57014', message: 'canceling statement due to user request' });
    expect((await c.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
  });

  it('answers a cancel request of a client still waiting for a server connection with 57014, and never runs its statement', async () => {
    const holder = await client('ONE');
    const waiter = await client('ONE');
    await holder.query('CREATE TABLE IF NOT EXISTS cancelled_while_waiting (x int)');
    // The only server connection is held: the waiter's statements wait for it.
    await holder.query('BEGIN');
    const waitingOn = async (n: number): Promise<void> => {
      await eventually(async () => (await stack.broker$('GET', '/v1/databases/ONE')).body.wire.waiting === n, 10_000, `${n} waiting client(s)`);
    };
    const simple = failure(() => waiter.query('INSERT INTO cancelled_while_waiting VALUES (1)'));
    await waitingOn(1);
    await sendCancel(stack.wirePort, waiter);
    expect(await simple).toMatchObject({ code: '57014', message: 'canceling statement due to user request' });
    // Extended protocol (Parse/Bind/Execute/Sync) the same way.
    const extended = failure(() => waiter.query({ text: 'INSERT INTO cancelled_while_waiting VALUES ($1)', values: [2] }));
    await waitingOn(1);
    await sendCancel(stack.wirePort, waiter);
    expect(await extended).toMatchObject({ code: '57014' });
    await holder.query('COMMIT');
    // Nothing ran, and the client goes on once a connection is free.
    expect((await waiter.query('SELECT count(*)::int AS n FROM cancelled_while_waiting')).rows).toEqual([{ n: 0 }]);
    expect((await stack.broker$('GET', '/v1/databases/ONE')).body.wire.waiting).toBe(0);
  });

  it("ends a COPY FROM STDIN the client aborts (CopyFail) with the server's 57014; nothing is copied and the connection serves on", async () => {
    const c = await client('ONE');
    await c.query('CREATE TABLE IF NOT EXISTS copied (x int)');
    const frames = await rawExchange(c, [
      message('Q', cstring('COPY copied FROM STDIN')),
      message('d', Buffer.from('1\n2\n')),
      message('f', cstring('the user changed their mind')),
    ]);
    expect(frames.map((f) => String.fromCharCode(f.type)).join('')).toBe('GEZ');
    const error = frames[1]?.body.toString('utf8') ?? '';
    expect(error).toContain('C57014');
    expect(error).toContain('the user changed their mind');
    // The one server connection, out of the COPY and outside any transaction, serves the next client.
    const next = await client('ONE');
    expect((await next.query('SELECT count(*)::int AS n FROM copied')).rows).toEqual([{ n: 0 }]);
  });

  it('shows wire clients, waiting clients and server connections in the status route and metrics', async () => {
    const holder = await client('ONE');
    const waiter = await client('ONE');
    await holder.query('BEGIN');
    const waiting = waiter.query('SELECT 5 AS five');
    const status = await eventually(
      async () => {
        const s = await stack.broker$('GET', '/v1/databases/ONE');
        return s.body.wire.waiting === 1 ? s.body : undefined;
      },
      10_000,
      'a waiting client',
    );
    expect(status.wire).toMatchObject({ serverConnections: 1, waiting: 1 });
    expect(status.wire.clients).toBeGreaterThanOrEqual(2);
    const metrics = await fetch(`${stack.broker.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/db_wire_clients_waiting\{connector="ONE"\} 1/);
    expect(metrics).toMatch(/db_wire_server_connections\{connector="ONE"\} 1/);
    await holder.query('COMMIT');
    expect((await waiting).rows).toEqual([{ five: 5 }]);
  });

  it('answers fast with 08006 while the database is down, and serves again once the connector points at a live one', async () => {
    const deadPort = await freePort();
    await stack.putDatabase('DOWN', `postgres://postgres@127.0.0.1:${deadPort}/x`, { acquireTimeoutMs: 2000 });
    await eventually(async () => (await stack.broker$('GET', '/v1/databases/DOWN')).body.state === 'retrying', 20_000, 'retrying');
    const refused = await failure(() => client('DOWN'));
    expect(refused).toMatchObject({ code: '08006', message: expect.stringContaining('DOWN') });
    await stack.putDatabase('DOWN', b.url);
    await stack.waitActive('DOWN');
    const c = await client('DOWN');
    expect((await c.query('SELECT name FROM marker')).rows).toEqual([{ name: 'B' }]);
  });
});
