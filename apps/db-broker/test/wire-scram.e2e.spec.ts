import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@patchbay/testkit';
import { Client } from 'pg';
import postgres from 'postgres';
import { startCaptureProxy, type CaptureProxy } from './support/capture-proxy';
import { TOKENS, TOKENS_ENV, startStack, type Stack } from './support/stack';
import { runTool, wireUrl } from './support/wire-tools';

jest.setTimeout(180_000);

/** Known to the broker only by its sha256: no SCRAM verifier can exist for it. */
const HASHED = `hashed_${randomBytes(12).toString('hex')}`;

/**
 * The wire front bound beyond loopback without TLS: no cleartext password is allowed, so
 * every client logs in with SCRAM-SHA-256. A relay in front of it records the bytes.
 */
describe('db-broker wire front: SCRAM-SHA-256 without TLS off loopback', () => {
  let db: TestDatabase;
  let stack: Stack;
  let proxy: CaptureProxy;
  let dir: string;

  beforeAll(async () => {
    const tokens = [...(JSON.parse(TOKENS_ENV) as object[]), { name: 'hashed', sha256: createHash('sha256').update(HASHED).digest('hex'), scopes: ['use'] }];
    db = await createTestDatabase('pbscram');
    stack = await startStack({ PATCHBAY_DB_WIRE_HOST: '0.0.0.0', PATCHBAY_TOKENS: JSON.stringify(tokens) });
    await stack.putDatabase('SCRAMDB', db.url, { max: 2 });
    await stack.waitActive('SCRAMDB');
    proxy = await startCaptureProxy(stack.wirePort);
    dir = mkdtempSync(join(tmpdir(), 'pbscram-'));
  });

  afterAll(async () => {
    await proxy?.close();
    await stack?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const url = (token: string): string => wireUrl(proxy.port, 'SCRAMDB', token, '?sslmode=disable');

  it('logs psql (PGPASSWORD), node-postgres, postgres.js and pgbench in, and the token never crosses the wire', async () => {
    const psql = await runTool('psql', ['-h', '127.0.0.1', '-p', String(proxy.port), '-U', 'agent', '-d', 'SCRAMDB', '-XAtc', 'SELECT 40 + 2'], {
      PGPASSWORD: TOKENS.alice,
      PGSSLMODE: 'disable',
    });
    expect(psql).toMatchObject({ code: 0, stdout: '42\n' });

    const client = new Client({ connectionString: url(TOKENS.bob) });
    await client.connect();
    try {
      expect((await client.query({ name: 'q', text: 'SELECT $1::text AS v', values: ['scram'] })).rows).toEqual([{ v: 'scram' }]);
    } finally {
      await client.end();
    }

    const sql = postgres(url(TOKENS.alice), { max: 2, onnotice: () => undefined });
    try {
      const [row] = await sql<{ v: number }[]>`SELECT ${7}::int * 6 AS v`;
      expect(row?.v).toBe(42);
    } finally {
      await sql.end();
    }

    const script = join(dir, 'select.sql');
    writeFileSync(script, 'SELECT 1;\n');
    const bench = await runTool('pgbench', ['-n', '-c', '2', '-t', '5', '-f', script, url(TOKENS.alice)]);
    expect(bench.stderr).not.toMatch(/error|fatal/i);
    expect(bench.code).toBe(0);
    expect(bench.stdout).toMatch(/number of transactions actually processed: 10\/10/);

    const wire = proxy.captured();
    expect(wire.includes('SCRAM-SHA-256')).toBe(true);
    for (const token of [TOKENS.alice, TOKENS.bob]) {
      expect(wire.includes(token)).toBe(false);
      expect(wire.includes(Buffer.from(token).toString('base64'))).toBe(false);
    }
  });

  it('refuses a wrong token with 28P01 right after the proof, in every client', async () => {
    const wrong = `${TOKENS.alice}x`;
    const psql = await runTool('psql', [url(wrong), '-XAtc', 'SELECT 1']);
    expect(psql.code).not.toBe(0);
    expect(psql.stderr).toMatch(/password authentication failed for database "SCRAMDB"/);

    const client = new Client({ connectionString: url(wrong) });
    await expect(client.connect()).rejects.toMatchObject({ code: '28P01' });
    await client.end().catch(() => undefined);

    const sql = postgres(url(wrong), { max: 1, onnotice: () => undefined });
    await expect(sql`SELECT 1`).rejects.toMatchObject({ code: '28P01' });
    await sql.end();

    const bench = await runTool('pgbench', ['-n', '-c', '1', '-t', '1', '-f', join(dir, 'select.sql'), url(wrong)]);
    expect(bench.code).not.toBe(0);
    expect(bench.stderr).toMatch(/password authentication failed/);
    expect(proxy.captured().includes(wrong)).toBe(false);
  });

  it('keeps scopes and allow-lists on the SCRAM path (42501, 3D000)', async () => {
    const reader = new Client({ connectionString: url(TOKENS.reader) });
    await expect(reader.connect()).rejects.toMatchObject({ code: '42501' });
    await reader.end().catch(() => undefined);
    const limited = new Client({ connectionString: url(TOKENS.limited) });
    await expect(limited.connect()).rejects.toMatchObject({ code: '42501' });
    await limited.end().catch(() => undefined);
    const unknown = new Client({ connectionString: wireUrl(proxy.port, 'NOSUCH', TOKENS.alice, '?sslmode=disable') });
    await expect(unknown.connect()).rejects.toMatchObject({ code: '3D000' });
    await unknown.end().catch(() => undefined);
  });

  it('says why a token known only by its hash cannot log in here (no cleartext off loopback without TLS)', async () => {
    const client = new Client({ connectionString: url(HASHED) });
    await expect(client.connect()).rejects.toMatchObject({ code: '28P01', message: expect.stringMatching(/configured only by its sha256 logs in over TLS/) });
    await client.end().catch(() => undefined);
    expect(proxy.captured().includes(HASHED)).toBe(false);
  });
});

describe('db-broker wire front on loopback with a token known only by its hash', () => {
  let db: TestDatabase;
  let stack: Stack;

  beforeAll(async () => {
    const tokens = [...(JSON.parse(TOKENS_ENV) as object[]), { name: 'hashed', sha256: createHash('sha256').update(HASHED).digest('hex'), scopes: ['use'] }];
    db = await createTestDatabase('pbscramlo');
    stack = await startStack({ PATCHBAY_TOKENS: JSON.stringify(tokens) });
    await stack.putDatabase('LOOPDB', db.url, { max: 1 });
    await stack.waitActive('LOOPDB');
  });

  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('falls back to the cleartext password (allowed on loopback), so every token logs in', async () => {
    for (const token of [HASHED, TOKENS.alice]) {
      const run = await runTool('psql', [
        wireUrl(stack.wirePort, 'LOOPDB', token, '?sslmode=disable&channel_binding=disable'),
        '-XAtc',
        'SELECT current_database()',
      ]);
      expect(run).toMatchObject({ code: 0, stdout: `${db.name}\n` });
    }
  });
});
