import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@patchbay/testkit';
import { Kysely, PostgresDialect, sql as ksql } from 'kysely';
import { Client, Pool } from 'pg';
import postgres from 'postgres';
import { TOKENS, startStack, type Stack } from './support/stack';
import { runTool, wireUrl } from './support/wire-tools';

jest.setTimeout(180_000);

/** Real Postgres clients through the wire front, on a pool smaller than the number of clients. */
describe('db-broker wire front with real clients (psql, pgbench, node-postgres, postgres.js, kysely)', () => {
  let db: TestDatabase;
  let stack: Stack;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase('pbwire');
    stack = await startStack();
    await stack.putDatabase('WIRE', db.url, { max: 3, acquireTimeoutMs: 60_000 });
    await stack.waitActive('WIRE');
    url = wireUrl(stack.wirePort, 'WIRE', TOKENS.alice);
    dir = mkdtempSync(join(tmpdir(), 'pbwire-'));
  });

  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('psql runs a script with COPY in and out (\\copy) and reports errors with their SQLSTATE', async () => {
    const input = join(dir, 'in.csv');
    const output = join(dir, 'out.csv');
    writeFileSync(input, Array.from({ length: 500 }, (_, i) => `${i},name ${i}`).join('\n') + '\n');
    const script = [
      'CREATE TABLE people (id int PRIMARY KEY, name text);',
      `\\copy people FROM '${input}' WITH (FORMAT csv)`,
      `\\copy (SELECT * FROM people WHERE id < 10 ORDER BY id) TO '${output}' WITH (FORMAT csv)`,
      'SELECT count(*), sum(id) FROM people;',
    ].join('\n');
    const run = await runTool('psql', [url, '-X', '-At', '-v', 'ON_ERROR_STOP=1'], {}, script);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('500|124750');
    expect(readFileSync(output, 'utf8').split('\n')[3]).toBe('3,name 3');

    // 20 MB out and back in through COPY: the broker relays at the pace of the slower side.
    const big = await runTool('psql', [url, '-X', '-c', "COPY (SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g) TO STDOUT"]);
    expect(big.code).toBe(0);
    const lines = big.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(200000);
    expect(lines[199999]).toBe(`200000\t${'x'.repeat(100)}`);
    const load = await runTool(
      'psql',
      [url, '-X', '-v', 'ON_ERROR_STOP=1', '-c', 'CREATE TABLE bulk (id int, pad text)', '-c', 'COPY bulk FROM STDIN'],
      {},
      big.stdout,
    );
    expect(load).toMatchObject({ code: 0, stderr: '' });
    const counted = await runTool('psql', [url, '-XAtc', 'SELECT count(*), max(id) FROM bulk']);
    expect(counted.stdout.trim()).toBe('200000|200000');

    const failed = await runTool('psql', [url, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', '-c', 'SELECT * FROM no_such_table']);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/42P01/);
  });

  it('relays every byte unchanged to a client that stops reading for a while (server reads past the relay go to new buffers)', async () => {
    const copy = 'COPY (SELECT g, md5(g::text) || repeat(chr(65 + g % 26), 3000 + g % 977) FROM generate_series(1, 3000) g) TO STDOUT';
    const direct = await runTool('psql', [db.url, '-X', '-c', copy]);
    const slow = spawn('psql', [url, '-X', '-c', copy], { stdio: ['ignore', 'pipe', 'inherit'] });
    const hash = createHash('sha256');
    // Unread, psql blocks on a full pipe and the broker's writes to it stop completing at once.
    slow.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    slow.stdout.on('data', (chunk: Buffer) => hash.update(chunk));
    slow.stdout.resume();
    const code = await new Promise<number | null>((resolve) => slow.on('close', resolve));
    expect(code).toBe(0);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(direct.stdout).digest('hex'));
  });

  it('pgbench -i, then -S in simple, extended and prepared mode and TPC-B, 6 clients on 3 server connections, 0 failed', async () => {
    const init = await runTool('pgbench', ['-i', '-s', '1', '-q', url]);
    expect(init.code).toBe(0);
    expect(init.stderr).toMatch(/done in/);
    for (const mode of ['simple', 'extended', 'prepared']) {
      // One thread per client: pgbench prepares synchronously, so a shared thread would wait on each other's server connection.
      const run = await runTool('pgbench', ['-S', '-n', '-c', '6', '-j', '6', '-t', '100', '-M', mode, url]);
      expect({ mode, code: run.code, stderr: run.stderr }).toEqual({ mode, code: 0, stderr: expect.not.stringMatching(/error/i) });
      expect(run.stdout).toContain('number of transactions actually processed: 600/600');
      expect(run.stdout).toContain('number of failed transactions: 0');
    }
    const tpcb = await runTool('pgbench', ['-n', '-c', '4', '-j', '4', '-t', '50', '-M', 'prepared', url]);
    expect(tpcb.code).toBe(0);
    expect(tpcb.stdout).toContain('number of transactions actually processed: 200/200');
    const direct = new Client({ connectionString: db.url });
    await direct.connect();
    try {
      const history = await direct.query<{ n: number }>('SELECT count(*)::int AS n FROM pgbench_history');
      expect(history.rows[0]?.n).toBe(200);
    } finally {
      await direct.end();
    }
  });

  it('node-postgres: named prepared statements from 8 clients through 3 server connections', async () => {
    const pool = new Pool({ connectionString: url, max: 8 });
    try {
      const worker = async (w: number): Promise<number[]> => {
        const client = await pool.connect();
        try {
          const out: number[] = [];
          for (let i = 0; i < 40; i++) {
            // Same name, different text on odd workers: statements are per client, as in Postgres.
            const text = w % 2 === 0 ? 'SELECT $1::int + 1 AS n' : 'SELECT $1::int * 2 AS n';
            const result = await client.query<{ n: number }>({ name: 'calc', text, values: [i] });
            out.push(result.rows[0]?.n ?? -1);
            if (i % 10 === 0) {
              await client.query('BEGIN');
              await client.query({ name: 'calc', text, values: [i] });
              await client.query({ name: 'rows', text: 'SELECT count(*)::int AS c FROM generate_series(1, $1::int)', values: [w + 1] });
              await client.query('COMMIT');
            }
          }
          return out;
        } finally {
          client.release();
        }
      };
      const results = await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
      results.forEach((values, w) => expect(values).toEqual(Array.from({ length: 40 }, (_, i) => (w % 2 === 0 ? i + 1 : i * 2))));
    } finally {
      await pool.end();
    }
  });

  it('postgres.js with its defaults (prepared statements, pipelining) from 8 connections', async () => {
    const sql = postgres(url, { max: 8, onnotice: () => undefined });
    try {
      await sql`CREATE TABLE IF NOT EXISTS pjs (id serial PRIMARY KEY, v int NOT NULL)`;
      const rounds = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const [row] = await sql<{ v: number; t: string }[]>`SELECT ${i}::int AS v, ${'x' + i}::text AS t`;
          return row;
        }),
      );
      expect(rounds.map((r) => r?.v)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          sql.begin(async (tx) => {
            await tx`INSERT INTO pjs (v) VALUES (${i})`;
            await tx`INSERT INTO pjs (v) VALUES (${i + 100})`;
          }),
        ),
      );
      const [{ n, s }] = (await sql`SELECT count(*)::int AS n, sum(v)::int AS s FROM pjs`) as unknown as [{ n: number; s: number }];
      expect(n).toBe(20);
      expect(s).toBe(45 + 1045);
      await expect(sql`SELECT * FROM missing_pjs`).rejects.toMatchObject({ code: '42P01' });
      const [after] = await sql`SELECT 1 AS one`;
      expect(after).toEqual({ one: 1 });
    } finally {
      await sql.end();
    }
  });

  it('kysely on node-postgres: schema, inserts, a transaction, a typed select', async () => {
    interface Tables {
      items: { id: number; label: string; qty: number };
    }
    const kysely = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: new Pool({ connectionString: url, max: 5 }) }) });
    try {
      await kysely.schema
        .createTable('items')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('qty', 'integer', (c) => c.notNull())
        .execute();
      await kysely.transaction().execute(async (tx) => {
        await tx.insertInto('items').values({ id: 1, label: 'a', qty: 2 }).execute();
        await tx.insertInto('items').values({ id: 2, label: 'b', qty: 5 }).execute();
      });
      await expect(
        kysely.transaction().execute(async (tx) => {
          await tx.insertInto('items').values({ id: 3, label: 'c', qty: 1 }).execute();
          await tx.insertInto('items').values({ id: 1, label: 'dup', qty: 1 }).execute();
        }),
      ).rejects.toMatchObject({ code: '23505' });
      const rows = await kysely.selectFrom('items').select(['label', 'qty']).where('qty', '>', 1).orderBy('id').execute();
      expect(rows).toEqual([
        { label: 'a', qty: 2 },
        { label: 'b', qty: 5 },
      ]);
      const total = await ksql<{ total: number }>`SELECT sum(qty)::int AS total FROM items`.execute(kysely);
      expect(total.rows[0]?.total).toBe(7);
    } finally {
      await kysely.destroy();
    }
  });
});
