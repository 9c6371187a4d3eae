import { credentials as grpcCredentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { Envelope } from '@patchbay/core';
import { RedisBus } from '@patchbay/core/redis';
import { DB_SERVICE, loadService } from '@patchbay/proto';
import { TEST_ADMIN_TOKEN, api, createTestDatabase, eventually, testRedisUrl, type TestDatabase } from '@patchbay/testkit';
import { TOKENS, startStack, withClient, type Stack } from './support/stack';

jest.setTimeout(60_000);

describe('db-broker queries, batches, sessions (real Postgres, Redis, built app)', () => {
  let db: TestDatabase;
  let stack: Stack;
  let events: Envelope[];
  let bus: RedisBus;

  beforeAll(async () => {
    db = await createTestDatabase('pbdb');
    await withClient(db.url, (c) =>
      c.query(`
        CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, tags text[], meta jsonb, blob bytea, price numeric(10,2), at timestamptz);
        INSERT INTO items VALUES (1, 'one', '{a,b}', '{"k": 1}', '\\x0102', 1.50, '2026-01-01T00:00:00Z');
        CREATE TABLE big AS SELECT g AS n FROM generate_series(1, 200) g;
      `),
    );
    stack = await startStack({ PATCHBAY_DB_MAX_ROWS: '150', PATCHBAY_DB_MAX_SQL_LENGTH: '2000', PATCHBAY_DB_SESSION_TTL_MS: '60000' });
    events = [];
    bus = new RedisBus({ url: testRedisUrl(), prefix: stack.prefix });
    await bus.subscribe('state', (envelope) => {
      events.push(envelope);
    });
    await stack.putDatabase('DATABASE', db.url, { max: 4 });
    await stack.waitActive('DATABASE');
  });

  afterAll(async () => {
    await bus?.close();
    await stack?.stop();
    await db?.drop();
  });

  const query = (body: unknown, token?: string, configId = 'DATABASE') => stack.broker$('POST', `/v1/databases/${configId}/query`, body, token);

  it('publishes the pool state on the bus and reports it', async () => {
    await eventually(
      () =>
        events.some(
          (e) => e.type === 'connection.state.v1' && (e.data as { name: string; to: string }).name === 'DATABASE' && (e.data as { to: string }).to === 'active',
        ),
      10_000,
      'connection.state.v1 active',
    );
    const status = await stack.broker$('GET', '/v1/databases/DATABASE', undefined, TOKENS.reader);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ configId: 'DATABASE', state: 'active', breaker: 'closed', pool: { max: 4 } });
    expect(status.body.target).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:5432\/pbdb_/);
    const list = await stack.broker$('GET', '/v1/databases', undefined, TOKENS.reader);
    expect(list.body.items.map((i: { configId: string }) => i.configId)).toEqual(['DATABASE']);
  });

  it('answers queries of every shape', async () => {
    const one = await query({ sql: 'SELECT 1 AS x' });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ command: 'SELECT', rowCount: 1, rows: [{ x: 1 }], fields: [{ name: 'x', dataTypeID: 23 }] });
    expect(typeof one.body.durationMs).toBe('number');

    const typed = await query({ sql: 'SELECT * FROM items WHERE id = $1', params: [1] });
    expect(typed.body.rows[0]).toEqual({
      id: 1,
      name: 'one',
      tags: ['a', 'b'],
      meta: { k: 1 },
      blob: '\\x0102',
      price: '1.50',
      at: '2026-01-01T00:00:00.000Z',
    });

    const arrays = await query({ sql: 'SELECT id, name FROM items', rowMode: 'array' });
    expect(arrays.body.rows).toEqual([[1, 'one']]);

    const insert = await query({ sql: 'INSERT INTO items (id, name, meta) VALUES ($1, $2, $3) RETURNING id', params: [2, 'two', { nested: [1, 2] }] });
    expect(insert.body).toMatchObject({ command: 'INSERT', rowCount: 1, rows: [{ id: 2 }] });
    const update = await query({ sql: 'UPDATE items SET name = upper(name) WHERE id > $1', params: [0] });
    expect(update.body).toMatchObject({ command: 'UPDATE', rowCount: 2, rows: [] });
    const ddl = await query({ sql: 'CREATE TABLE scratch (id int)' });
    expect(ddl.body).toMatchObject({ command: 'CREATE', rows: [] });
    const empty = await query({ sql: 'SELECT * FROM items WHERE id < 0' });
    expect(empty.body).toMatchObject({ rowCount: 0, rows: [] });
    expect(empty.body.fields.map((f: { name: string }) => f.name)).toContain('meta');
  });

  it('maps SQLSTATEs to problem+json', async () => {
    const duplicate = await query({ sql: 'INSERT INTO items (id, name) VALUES (1, $1)', params: ['dup'] });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(duplicate.body).toMatchObject({ code: 'CONFLICT', details: { sqlstate: '23505', constraint: 'items_pkey' } });

    const syntax = await query({ sql: 'SELEC 1' });
    expect(syntax.status).toBe(400);
    expect(syntax.body.details.sqlstate).toBe('42601');

    const missing = await query({ sql: 'SELECT * FROM no_such_table' });
    expect(missing.status).toBe(400);
    expect(missing.body.details.sqlstate).toBe('42P01');

    const notNull = await query({ sql: 'INSERT INTO items (id) VALUES (99)' });
    expect(notNull.status).toBe(422);
    expect(notNull.body.details.sqlstate).toBe('23502');

    const badParam = await query({ sql: 'SELECT $1::int AS n', params: ['abc'] });
    expect(badParam.status).toBe(400);
    expect(badParam.body.details.sqlstate).toBe('22P02');

    const multi = await query({ sql: 'SELECT 1; SELECT 2' });
    expect(multi.status).toBe(400);

    const timeout = await query({ sql: 'SELECT pg_sleep(5)', timeoutMs: 100 });
    expect(timeout.status).toBe(504);
    expect(timeout.body).toMatchObject({ code: 'TIMEOUT', detail: 'canceling statement due to statement timeout' });
    // The shortened timeout did not stick to the pooled connection.
    const after = await query({ sql: "SELECT current_setting('statement_timeout') AS t" });
    expect(after.body.rows[0].t).toBe('30s');
  });

  it('runs readOnly statements in a read-only transaction: Postgres refuses writes', async () => {
    const read = await query({ sql: 'SELECT name FROM items WHERE id = $1', params: [1], readOnly: true });
    expect(read.status).toBe(200);
    expect(read.body.rows).toEqual([{ name: 'ONE' }]);
    const mode = await query({ sql: "SELECT current_setting('transaction_read_only') AS ro", readOnly: true });
    expect(mode.body.rows).toEqual([{ ro: 'on' }]);
    // Writes hidden in a CTE or a function are the database's to catch, not a SQL guess's.
    for (const sql of ['INSERT INTO items (id, name) VALUES (77, $1)', 'WITH d AS (DELETE FROM items WHERE id = $1::int RETURNING id) SELECT * FROM d']) {
      const write = await query({ sql, params: [sql.startsWith('INSERT') ? 'ro' : 1], readOnly: true });
      expect(write.status).toBe(409);
      expect(write.body).toMatchObject({ details: { sqlstate: '25006' } });
      expect(write.body.detail).toMatch(/read-only transaction/);
    }
    const shortTimeout = await query({ sql: 'SELECT pg_sleep(5)', timeoutMs: 100, readOnly: true });
    expect(shortTimeout.status).toBe(504);
    // The connection went back to the pool read-write, with its own timeout.
    const after = await query({ sql: "SELECT current_setting('transaction_read_only') AS ro, current_setting('statement_timeout') AS t" });
    expect(after.body.rows).toEqual([{ ro: 'off', t: '30s' }]);
    expect((await query({ sql: 'SELECT count(*)::int AS n FROM items' })).body.rows).toEqual([{ n: 2 }]);
    // Sessions run their own transactions: the flag is refused there rather than ignored.
    const opened = await stack.broker$('POST', '/v1/databases/DATABASE/sessions', {}, TOKENS.alice);
    const inSession = await stack.broker$(
      'POST',
      `/v1/databases/DATABASE/sessions/${opened.body.sessionId}/query`,
      { sql: 'SELECT 1', readOnly: true },
      TOKENS.alice,
    );
    expect(inSession.status).toBe(400);
    await stack.broker$('DELETE', `/v1/databases/DATABASE/sessions/${opened.body.sessionId}`, undefined, TOKENS.alice);
  });

  it('refuses bad input with 4xx and leaves the pool untouched', async () => {
    const before = (await stack.broker$('GET', '/v1/databases/DATABASE')).body;
    const cases: [unknown, number][] = [
      [{ sql: 42 }, 400],
      [{}, 400],
      [{ sql: 'SELECT 1', params: 'nope' }, 400],
      [{ sql: 'SELECT 1', rowMode: 'columns' }, 400],
      [{ sql: 'SELECT 1', extra: true }, 400],
      [{ sql: 'SELECT 1', timeoutMs: -5 }, 400],
      [{ sql: 'BEGIN' }, 400],
      [{ sql: 'SET search_path = nowhere' }, 400],
      [{ sql: `SELECT ${'1+'.repeat(1500)}1` }, 413],
    ];
    for (const [body, status] of cases) {
      const response = await query(body);
      expect({ body, status: response.status, code: typeof response.body?.code }).toEqual({ body, status, code: 'string' });
    }
    const unknown = await query({ sql: 'SELECT 1' }, undefined, 'NOPE');
    expect(unknown.status).toBe(404);
    const badId = await query({ sql: 'SELECT 1' }, undefined, '1-bad');
    expect(badId.status).toBe(400);
    const malformed = await api(stack.broker.url, 'POST', '/v1/databases/DATABASE/query', { raw: '{"sql": ', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    const huge = await api(stack.broker.url, 'POST', '/v1/databases/DATABASE/query', { body: { sql: 'SELECT 1', params: ['x'.repeat(2 * 1024 * 1024)] } });
    expect(huge.status).toBe(413);

    const after = (await stack.broker$('GET', '/v1/databases/DATABASE')).body;
    expect(after).toMatchObject({ state: 'active', breaker: 'closed', revision: before.revision });
    expect(after.pool.total).toBeLessThanOrEqual(4);
    expect((await query({ sql: 'SELECT 2 AS ok' })).body.rows).toEqual([{ ok: 2 }]);
  });

  it('enforces row and response limits with 413', async () => {
    const rows = await query({ sql: 'SELECT n FROM big' });
    expect(rows.status).toBe(413);
    expect(rows.body).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { maxRows: 150 } });
    const fine = await query({ sql: 'SELECT n FROM big ORDER BY n LIMIT 150' });
    expect(fine.body.rowCount).toBe(150);
    const bytes = await query({ sql: "SELECT repeat('x', 11 * 1024 * 1024) AS big" });
    expect(bytes.status).toBe(413);
  });

  it('checks scopes and connector allow-lists', async () => {
    expect((await stack.broker$('POST', '/v1/databases/DATABASE/query', { sql: 'SELECT 1' }, 'nobody-at-all-token')).status).toBe(401);
    expect((await query({ sql: 'SELECT 1' }, TOKENS.reader)).status).toBe(403);
    expect((await query({ sql: 'SELECT 1' }, TOKENS.limited)).status).toBe(403);
    expect((await stack.broker$('GET', '/v1/databases/DATABASE', undefined, TOKENS.limited)).status).toBe(403);
    expect((await stack.broker$('GET', '/v1/databases', undefined, TOKENS.limited)).body.items).toEqual([]);
    expect((await stack.broker$('GET', '/v1/databases', undefined, TOKENS.alice)).status).toBe(403);
    expect((await query({ sql: 'SELECT 1 AS a' }, TOKENS.alice)).status).toBe(200);
  });

  it('runs batches atomically', async () => {
    const ok = await stack.broker$('POST', '/v1/databases/DATABASE/batch', {
      queries: [
        { sql: 'INSERT INTO items (id, name) VALUES ($1, $2)', params: [10, 'ten'] },
        { sql: 'UPDATE items SET name = $1 WHERE id = $2', params: ['TEN', 10] },
        { sql: 'SELECT name FROM items WHERE id = 10' },
      ],
    });
    expect(ok.status).toBe(200);
    expect(ok.body.results.map((r: { command: string }) => r.command)).toEqual(['INSERT', 'UPDATE', 'SELECT']);
    expect(ok.body.results[2].rows).toEqual([{ name: 'TEN' }]);

    const failed = await stack.broker$('POST', '/v1/databases/DATABASE/batch', {
      queries: [
        { sql: 'INSERT INTO items (id, name) VALUES (11, $1)', params: ['eleven'] },
        { sql: 'INSERT INTO items (id, name) VALUES (10, $1)', params: ['again'] },
      ],
    });
    expect(failed.status).toBe(409);
    expect(failed.body.details).toMatchObject({ index: 1, rolledBack: true, sqlstate: '23505' });
    expect((await query({ sql: 'SELECT count(*)::int AS n FROM items WHERE id = 11' })).body.rows).toEqual([{ n: 0 }]);

    const overLimit = await stack.broker$('POST', '/v1/databases/DATABASE/batch', {
      queries: [{ sql: 'INSERT INTO items (id, name) VALUES (12, $1)', params: ['twelve'] }, { sql: 'SELECT n FROM big' }],
    });
    expect(overLimit.status).toBe(413);
    expect((await query({ sql: 'SELECT count(*)::int AS n FROM items WHERE id = 12' })).body.rows).toEqual([{ n: 0 }]);

    const noTx = await stack.broker$('POST', '/v1/databases/DATABASE/batch', {
      transaction: false,
      queries: [{ sql: 'INSERT INTO items (id, name) VALUES (13, $1)', params: ['thirteen'] }, { sql: 'SELEC' }],
    });
    expect(noTx.status).toBe(400);
    expect(noTx.body.details).toMatchObject({ index: 1, rolledBack: false });
    expect((await query({ sql: 'SELECT count(*)::int AS n FROM items WHERE id = 13' })).body.rows).toEqual([{ n: 1 }]);

    expect((await stack.broker$('POST', '/v1/databases/DATABASE/batch', { queries: [] })).status).toBe(400);
    expect((await stack.broker$('POST', '/v1/databases/DATABASE/batch', { queries: [{ sql: 'COMMIT' }] })).status).toBe(400);
  });

  it('pins sessions to one connection and to their owner', async () => {
    const opened = await stack.broker$('POST', '/v1/databases/DATABASE/sessions', {}, TOKENS.alice);
    expect(opened.status).toBe(201);
    const { sessionId, expiresAt } = opened.body;
    expect(typeof sessionId).toBe('string');
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    const path = `/v1/databases/DATABASE/sessions/${sessionId}`;

    const pid1 = (await stack.broker$('POST', `${path}/query`, { sql: 'SELECT pg_backend_pid() AS pid' }, TOKENS.alice)).body.rows[0].pid;
    await stack.broker$('POST', `${path}/query`, { sql: 'SET search_path = public' }, TOKENS.alice);
    const insert = await stack.broker$('POST', `${path}/query`, { sql: 'INSERT INTO items (id, name) VALUES (20, $1)', params: ['twenty'] }, TOKENS.alice);
    expect(insert.status).toBe(200);
    const pid2 = (await stack.broker$('POST', `${path}/query`, { sql: 'SELECT pg_backend_pid() AS pid' }, TOKENS.alice)).body.rows[0].pid;
    expect(pid2).toBe(pid1);
    // Not committed yet: invisible outside the session.
    expect((await query({ sql: 'SELECT count(*)::int AS n FROM items WHERE id = 20' })).body.rows).toEqual([{ n: 0 }]);

    // Another principal cannot see or touch it.
    expect((await stack.broker$('POST', `${path}/query`, { sql: 'SELECT 1' }, TOKENS.bob)).status).toBe(404);
    expect((await stack.broker$('POST', `${path}/commit`, undefined, TOKENS.bob)).status).toBe(404);
    expect((await stack.broker$('DELETE', path, undefined, TOKENS.bob)).status).toBe(404);

    const commit = await stack.broker$('POST', `${path}/commit`, undefined, TOKENS.alice);
    expect(commit.status).toBe(200);
    expect(commit.body.result).toBe('COMMIT');
    expect((await query({ sql: 'SELECT count(*)::int AS n FROM items WHERE id = 20' })).body.rows).toEqual([{ n: 1 }]);

    await stack.broker$('POST', `${path}/query`, { sql: 'DELETE FROM items WHERE id = 20' }, TOKENS.alice);
    expect((await stack.broker$('POST', `${path}/rollback`, undefined, TOKENS.alice)).body.result).toBe('ROLLBACK');
    expect((await query({ sql: 'SELECT count(*)::int AS n FROM items WHERE id = 20' })).body.rows).toEqual([{ n: 1 }]);

    const failing = await stack.broker$('POST', `${path}/query`, { sql: 'SELECT 1/0' }, TOKENS.alice);
    expect(failing.status).toBe(400);
    const aborted = await stack.broker$('POST', `${path}/query`, { sql: 'SELECT 1' }, TOKENS.alice);
    expect(aborted.status).toBe(409);
    expect(aborted.body.details.sqlstate).toBe('25P02');

    await stack.broker$('POST', `${path}/query`, { sql: 'DELETE FROM items WHERE id = 20' }, TOKENS.alice);
    const closed = await stack.broker$('DELETE', path, undefined, TOKENS.alice);
    expect(closed.status).toBe(200);
    expect((await stack.broker$('POST', `${path}/query`, { sql: 'SELECT 1' }, TOKENS.alice)).status).toBe(404);
    expect((await query({ sql: 'SELECT count(*)::int AS n FROM items WHERE id = 20' })).body.rows).toEqual([{ n: 1 }]);
    expect((await stack.broker$('GET', '/v1/databases/DATABASE')).body.openSessions).toBe(0);
  });

  it('rolls back and releases an idle session after its TTL, and caps sessions per pool', async () => {
    const opened = await stack.broker$('POST', '/v1/databases/DATABASE/sessions', { ttlMs: 1500 }, TOKENS.alice);
    const path = `/v1/databases/DATABASE/sessions/${opened.body.sessionId}`;
    const inserted = await stack.broker$('POST', `${path}/query`, { sql: "INSERT INTO items (id, name) VALUES (30, 'thirty')" }, TOKENS.alice);
    expect(inserted.status).toBe(200);
    // Polled through the status endpoint: touching the session would keep it alive.
    await eventually(async () => (await stack.broker$('GET', '/v1/databases/DATABASE')).body.openSessions === 0, 10_000, 'session expiry');
    expect((await stack.broker$('POST', `${path}/query`, { sql: 'SELECT 1' }, TOKENS.alice)).status).toBe(404);
    expect((await query({ sql: 'SELECT count(*)::int AS n FROM items WHERE id = 30' })).body.rows).toEqual([{ n: 0 }]);

    // max 4 -> at most 2 sessions, so plain queries always keep connections.
    const a = await stack.broker$('POST', '/v1/databases/DATABASE/sessions', {}, TOKENS.alice);
    const b = await stack.broker$('POST', '/v1/databases/DATABASE/sessions', {}, TOKENS.bob);
    const c = await stack.broker$('POST', '/v1/databases/DATABASE/sessions', {}, TOKENS.alice);
    expect([a.status, b.status, c.status]).toEqual([201, 201, 429]);
    expect((await query({ sql: 'SELECT 3 AS n' })).status).toBe(200);
    await stack.broker$('DELETE', `/v1/databases/DATABASE/sessions/${a.body.sessionId}`, undefined, TOKENS.alice);
    await stack.broker$('DELETE', `/v1/databases/DATABASE/sessions/${b.body.sessionId}`, undefined, TOKENS.bob);
  });

  it('opens the breaker on repeated statement timeouts and closes it after recovery', async () => {
    await stack.putDatabase('FRAGILE', db.url, { max: 2, statementTimeoutMs: 100, breakerFailures: 3, breakerRecoveryMs: 4000 });
    await stack.waitActive('FRAGILE');
    for (let i = 0; i < 3; i++) {
      expect((await query({ sql: 'SELECT pg_sleep(2)' }, undefined, 'FRAGILE')).status).toBe(504);
    }
    const rejected = await query({ sql: 'SELECT 1' }, undefined, 'FRAGILE');
    expect(rejected.status).toBe(503);
    expect(rejected.body.code).toBe('CIRCUIT_OPEN');
    expect(Number(rejected.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await stack.broker$('GET', '/v1/databases/FRAGILE')).body.breaker).toBe('open');
    await eventually(
      () =>
        events.some(
          (e) => e.type === 'breaker.changed.v1' && (e.data as { name: string; to: string }).name === 'FRAGILE' && (e.data as { to: string }).to === 'open',
        ),
      5_000,
      'breaker open event',
    );

    const recovered = await eventually(
      async () => {
        const response = await query({ sql: 'SELECT 1 AS ok' }, undefined, 'FRAGILE');
        return response.status === 200 ? response : undefined;
      },
      15_000,
      'breaker recovery',
    );
    expect(recovered.body.rows).toEqual([{ ok: 1 }]);
    expect((await stack.broker$('GET', '/v1/databases/FRAGILE')).body.breaker).toBe('closed');
    await eventually(
      () =>
        events.some(
          (e) => e.type === 'breaker.changed.v1' && (e.data as { name: string; to: string }).name === 'FRAGILE' && (e.data as { to: string }).to === 'closed',
        ),
      5_000,
      'breaker closed event',
    );
    // Timeouts the caller asked for do not count against the database.
    for (let i = 0; i < 4; i++) {
      expect((await query({ sql: 'SELECT pg_sleep(2)', timeoutMs: 50 }, undefined, 'FRAGILE')).status).toBe(504);
    }
    expect((await stack.broker$('GET', '/v1/databases/FRAGILE')).body.breaker).toBe('closed');

    // Operators can hold it open and reset it (admin scope only).
    expect((await stack.broker$('POST', '/v1/databases/FRAGILE/breaker', { action: 'open' }, TOKENS.alice)).status).toBe(403);
    expect((await stack.broker$('POST', '/v1/databases/FRAGILE/breaker', { action: 'open' })).body.breaker).toBe('forced_open');
    expect((await query({ sql: 'SELECT 1' }, undefined, 'FRAGILE')).body.code).toBe('CIRCUIT_OPEN');
    expect((await stack.broker$('POST', '/v1/databases/FRAGILE/breaker', { action: 'reset' })).body.breaker).toBe('closed');
    expect((await query({ sql: 'SELECT 1' }, undefined, 'FRAGILE')).status).toBe(200);
    expect((await stack.broker$('POST', '/v1/databases/FRAGILE/breaker', { action: 'explode' })).status).toBe(400);
  });

  it('mirrors query, batch and status over gRPC', async () => {
    const { Client } = loadService('db', DB_SERVICE);
    const client = new Client(stack.broker.grpcAddress, grpcCredentials.createInsecure());
    const call = <T>(method: string, request: unknown, token = TEST_ADMIN_TOKEN): Promise<T> =>
      new Promise((resolve, reject) => {
        const metadata = new Metadata();
        metadata.set('authorization', `Bearer ${token}`);
        (client as unknown as Record<string, (r: unknown, m: Metadata, cb: (e: ServiceError | null, v: T) => void) => void>)[method]!(
          request,
          metadata,
          (error, value) => (error ? reject(error) : resolve(value)),
        );
      });
    try {
      const result = await call<{ command: string; rowsJson: string; fields: { name: string }[] }>('Query', {
        configId: 'DATABASE',
        sql: 'SELECT $1::int + 1 AS n',
        paramsJson: '[41]',
      });
      expect(result.command).toBe('SELECT');
      expect(JSON.parse(result.rowsJson)).toEqual([{ n: 42 }]);
      const batch = await call<{ results: { command: string }[] }>('Batch', { configId: 'DATABASE', queries: [{ sql: 'SELECT 1' }, { sql: 'SELECT 2' }] });
      expect(batch.results).toHaveLength(2);
      const status = await call<{ state: string; pool: { max: number } }>('GetDatabase', { configId: 'DATABASE' });
      expect(status).toMatchObject({ state: 'active', pool: { max: 4 } });
      const list = await call<{ databases: { configId: string }[] }>('ListDatabases', {}, TOKENS.reader);
      expect(list.databases.map((d) => d.configId)).toContain('DATABASE');
      await expect(call('Query', { configId: 'DATABASE', sql: 'SELECT 1' }, TOKENS.reader)).rejects.toMatchObject({ code: 7 });
      await expect(call('Query', { configId: 'DATABASE', sql: 'SELEC' })).rejects.toMatchObject({ code: 3 });
      await expect(call('Query', { configId: 'NOPE', sql: 'SELECT 1' })).rejects.toMatchObject({ code: 5 });

      // readOnly as on REST: the database refuses the write (25006), ABORTED as REST's 409.
      const readOnly = await call<{ rowsJson: string }>('Query', {
        configId: 'DATABASE',
        sql: "SELECT current_setting('transaction_read_only') AS ro",
        readOnly: true,
      });
      expect(JSON.parse(readOnly.rowsJson)).toEqual([{ ro: 'on' }]);
      const write = call('Query', { configId: 'DATABASE', sql: 'INSERT INTO items (id, name) VALUES (78, $1)', paramsJson: '["grpc"]', readOnly: true });
      await expect(write).rejects.toMatchObject({ code: 10, details: expect.stringMatching(/read-only transaction/) });
      const readWrite = await call<{ rowsJson: string }>('Query', { configId: 'DATABASE', sql: "SELECT current_setting('transaction_read_only') AS ro" });
      expect(JSON.parse(readWrite.rowsJson)).toEqual([{ ro: 'off' }]);
    } finally {
      client.close();
    }
  });

  it('exports pool and query metrics and never logs the password', async () => {
    const metrics = await api(stack.broker.url, 'GET', '/metrics', { token: null });
    expect(metrics.text).toMatch(/db_pool_connections\{[^}]*connector="DATABASE"[^}]*kind="max"[^}]*\} 4/);
    expect(metrics.text).toMatch(/db_query_duration_seconds_bucket|db_query_duration_bucket/);
    expect(metrics.text).toMatch(/db_query_errors_total\{[^}]*class="23"/);
    expect(metrics.text).toMatch(/db_breaker_state\{[^}]*connector="FRAGILE"/);
    await stack.putDatabase('SECRET', db.url.replace('postgres@', 'postgres:hunter2secret@'), { max: 1 }, { password: 'hunter2secret' });
    await stack.waitActive('SECRET');
    const status = await stack.broker$('GET', '/v1/databases/SECRET');
    expect(status.text).not.toContain('hunter2secret');
    expect(stack.broker.logs()).not.toContain('hunter2secret');
    const docs = await api(stack.broker.url, 'GET', '/docs/json', { token: null });
    expect(Object.keys(docs.body.paths)).toEqual(
      expect.arrayContaining(['/v1/databases/{configId}/query', '/v1/databases/{configId}/batch', '/v1/databases/{configId}/sessions']),
    );
  });
});
