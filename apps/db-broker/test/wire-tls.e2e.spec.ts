import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, eventually, type TestDatabase } from '@patchbay/testkit';
import { Client } from 'pg';
import { TOKENS, startStack, type Stack } from './support/stack';
import { startTlsOnlyProxy, type TlsOnlyProxy } from './support/tls-only-proxy';
import { runTool, sendCancel, wireUrl } from './support/wire-tools';

jest.setTimeout(120_000);

describe('db-broker wire front with TLS, listening beyond loopback', () => {
  let db: TestDatabase;
  let stack: Stack;
  let dir: string;
  let tlsOnly: TlsOnlyProxy;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pbwire-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], {
      stdio: 'ignore',
    });
    db = await createTestDatabase('pbwiretls');
    stack = await startStack({ PATCHBAY_DB_WIRE_HOST: '0.0.0.0', PATCHBAY_DB_WIRE_TLS_CERT: cert, PATCHBAY_DB_WIRE_TLS_KEY: key });
    await stack.putDatabase('SECURE', db.url, { max: 2 });
    await stack.waitActive('SECURE');
    // The same database behind a front that speaks TLS only, like a managed service's.
    tlsOnly = await startTlsOnlyProxy(Number(new URL(db.url).port || 5432), cert, key);
    const behind = new URL(db.url);
    behind.port = String(tlsOnly.port);
    behind.searchParams.set('sslmode', 'require');
    await stack.putDatabase('MANAGED', behind.toString(), { max: 2 });
    await stack.waitActive('MANAGED');
  });

  afterAll(async () => {
    await stack?.stop();
    await tlsOnly?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves psql and node-postgres over TLS', async () => {
    const run = await runTool('psql', [wireUrl(stack.wirePort, 'SECURE', TOKENS.alice, '?sslmode=require'), '-XAtc', 'SELECT 40 + 2']);
    expect(run).toMatchObject({ code: 0, stdout: '42\n' });
    const client = new Client({ connectionString: wireUrl(stack.wirePort, 'SECURE', TOKENS.alice), ssl: { rejectUnauthorized: false } });
    await client.connect();
    try {
      expect((await client.query({ name: 'q', text: 'SELECT $1::text AS v', values: ['tls'] })).rows).toEqual([{ v: 'tls' }]);
    } finally {
      await client.end();
    }
  });

  it('binds SCRAM-SHA-256-PLUS to the TLS channel (tls-server-end-point) for psql and node-postgres', async () => {
    const run = await runTool('psql', [wireUrl(stack.wirePort, 'SECURE', TOKENS.alice, '?sslmode=require&channel_binding=require'), '-XAtc', 'SELECT 1']);
    expect(run).toMatchObject({ code: 0, stdout: '1\n' });
    const client = new Client({
      connectionString: wireUrl(stack.wirePort, 'SECURE', TOKENS.bob),
      ssl: { rejectUnauthorized: false },
      enableChannelBinding: true,
    });
    await client.connect();
    try {
      expect((await client.query('SELECT 2 AS v')).rows).toEqual([{ v: 2 }]);
    } finally {
      await client.end();
    }
    const wrong = new Client({
      connectionString: wireUrl(stack.wirePort, 'SECURE', `${TOKENS.bob}x`),
      ssl: { rejectUnauthorized: false },
      enableChannelBinding: true,
    });
    await expect(wrong.connect()).rejects.toMatchObject({ code: '28P01' });
    await wrong.end().catch(() => undefined);
  });

  it('without TLS (off loopback: no cleartext) logs in with SCRAM-SHA-256, without channel binding', async () => {
    const run = await runTool('psql', [wireUrl(stack.wirePort, 'SECURE', TOKENS.alice, '?sslmode=disable'), '-XAtc', 'SELECT 1']);
    expect(run).toMatchObject({ code: 0, stdout: '1\n' });
    const plus = await runTool('psql', [wireUrl(stack.wirePort, 'SECURE', TOKENS.alice, '?sslmode=disable&channel_binding=require'), '-XAtc', 'SELECT 1']);
    expect(plus.code).not.toBe(0);
    expect(plus.stderr).toMatch(/channel binding/);
  });

  it('forwards a cancel over TLS to a server that takes TLS only (57014)', async () => {
    const c = new Client({ connectionString: wireUrl(stack.wirePort, 'MANAGED', TOKENS.alice), ssl: { rejectUnauthorized: false } });
    c.on('error', () => undefined);
    await c.connect();
    try {
      const running = c.query('SELECT pg_sleep(20)').then(
        () => ({ code: 'finished without a cancel', message: '' }),
        (error: { code?: string; message: string }) => ({ code: error.code, message: error.message }),
      );
      await eventually(async () => (await stack.broker$('GET', '/v1/databases/MANAGED')).body.wire.serverConnections === 1, 10_000, 'statement running');
      await sendCancel(stack.wirePort, c);
      // The user's cancel, not the statement timeout (also 57014).
      expect(await running).toEqual({ code: '57014', message: 'canceling statement due to user request' });
      expect(tlsOnly.plaintextRefused).toBe(0);
      expect((await c.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
    } finally {
      await c.end();
    }
  });
});
