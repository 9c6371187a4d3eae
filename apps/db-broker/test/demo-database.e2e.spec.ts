import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, eventually, freePort, startService, TEST_ADMIN_TOKEN, type ServiceHandle } from '@patchbay/testkit';
import { Client } from 'pg';
import { findPostgresBin } from '../src/demo/postgres-cluster';
import { runTool, wireUrl } from './support/wire-tools';

jest.setTimeout(120_000);

// PGlite is always there; the real server wherever one is installed (it is on CI and here).
const engines = findPostgresBin(process.env.PATCHBAY_DEMO_PG_BIN) ? (['postgres', 'pglite'] as const) : (['pglite'] as const);

describe.each(engines)('the demo database on %s (built db-broker, registry, psql)', (engine) => {
  let registry: ServiceHandle;
  let broker: ServiceHandle;
  let dataDir: string;
  let demoUrl: string;
  let wirePort: number;
  const holder = { client: undefined as Client | undefined };

  const psql = (url: string, sql: string) => runTool('psql', [url, '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  const query = (sql: string, extra: Record<string, unknown> = {}) => api(broker.url, 'POST', '/v1/databases/DATABASE/query', { body: { sql, ...extra } });

  beforeAll(async () => {
    // The cluster runs as `postgres` when the tests run as root: its directory must be reachable.
    dataDir = mkdtempSync(join(tmpdir(), 'pb-demo-db-'));
    chmodSync(dataDir, 0o755);
    const demoPort = await freePort();
    wirePort = await freePort();
    demoUrl = `postgres://postgres@127.0.0.1:${demoPort}/postgres`;
    registry = await startService('config-registry');
    broker = await startService('db-broker', {
      env: {
        PATCHBAY_REGISTRY_URL: registry.url,
        PATCHBAY_DATA_DIR: dataDir,
        PATCHBAY_DB_WIRE_PORT: String(wirePort),
        PATCHBAY_DEMO_PGLITE_PORT: String(demoPort),
        PATCHBAY_DEMO_DB: engine,
        PATCHBAY_DEMO_DB_WAIT_MS: '2000',
      },
    });
    const line = await broker.waitForLog(/demo database listening/, 60_000);
    expect(JSON.parse(line)).toMatchObject({ engine, url: demoUrl });
    const put = await api(registry.url, 'PUT', '/v1/connectors/DATABASE', { body: { type: 'database', url: demoUrl, options: { max: 2 } } });
    expect(put.status).toBe(201);
    await eventually(async () => (await query('SELECT 1')).status === 200, 30_000, 'the broker serving DATABASE');
  });

  afterAll(async () => {
    await holder.client?.end().catch(() => undefined);
    await broker?.stop();
    await registry?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function openTransaction(): Promise<Client> {
    const client = new Client({ connectionString: demoUrl });
    client.on('error', () => undefined);
    await client.connect();
    holder.client = client;
    await client.query('BEGIN');
    await client.query("INSERT INTO demo_items (name) VALUES ('in-tx')");
    return client;
  }

  it('serves the seeded table to psql, and sessions without a transaction interleave', async () => {
    expect((await psql(demoUrl, 'SELECT name FROM demo_items ORDER BY id')).stdout.trim()).toBe('patchbay\npglite\npostgres');
    // A connected, idle session does not hold the database.
    const idle = new Client({ connectionString: demoUrl });
    await idle.connect();
    try {
      await idle.query('SELECT 1');
      const [viaPsql, viaBroker] = await Promise.all([psql(demoUrl, 'SELECT count(*) FROM demo_items'), query('SELECT count(*)::int AS n FROM demo_items')]);
      expect(viaPsql.stdout.trim()).toBe('3');
      expect(viaBroker.body.rows).toEqual([{ n: 3 }]);
      expect((await idle.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    } finally {
      await idle.end();
    }
  });

  it('while one session holds a transaction open, the others get what the engine can give', async () => {
    const client = await openTransaction();
    const viaPsql = await psql(demoUrl, "SELECT count(*) FROM demo_items WHERE name = 'in-tx'");
    const viaBroker = await query('SELECT count(*)::int AS n FROM demo_items');
    const viaWire = await psql(wireUrl(wirePort, 'DATABASE', TEST_ADMIN_TOKEN), 'SELECT count(*) FROM demo_items');
    if (engine === 'postgres') {
      // A real server: nobody waits, and nobody sees the uncommitted row.
      expect(viaPsql.stdout.trim()).toBe('0');
      expect(viaBroker.body.rows).toEqual([{ n: 3 }]);
      expect(viaWire.stdout.trim()).toBe('3');
    } else {
      // One backend: a bounded wait, then a Postgres error that says why and what to do.
      expect(viaPsql.code).not.toBe(0);
      expect(viaPsql.stderr).toMatch(/serves one transaction at a time/);
      expect(viaPsql.stderr).toMatch(/install PostgreSQL/);
      expect(viaBroker.status).toBe(503);
      expect(viaWire.code).not.toBe(0);
      expect(viaWire.stderr).toMatch(/serves one transaction at a time/);
    }
    await client.query('ROLLBACK');
    await client.end();
    holder.client = undefined;
    // Once the transaction is over, everyone is served again.
    expect((await psql(demoUrl, 'SELECT count(*) FROM demo_items')).stdout.trim()).toBe('3');
    expect((await query('SELECT count(*)::int AS n FROM demo_items')).body.rows).toEqual([{ n: 3 }]);
  });

  it('a session that goes away inside its transaction releases the database, rolled back', async () => {
    const client = await openTransaction();
    await client.end();
    holder.client = undefined;
    const after = await eventually(
      async () => {
        const result = await psql(demoUrl, "SELECT count(*) FROM demo_items WHERE name = 'in-tx'");
        return result.code === 0 ? result : undefined;
      },
      30_000,
      'psql after the session left',
    );
    expect(after.stdout.trim()).toBe('0');
  });

  it('honours timeoutMs on pg_sleep through the broker and statement_timeout from psql', async () => {
    const timedOut = await query('SELECT pg_sleep(3)', { timeoutMs: 300 });
    expect(timedOut.body).toMatchObject({ code: 'TIMEOUT' });
    expect(timedOut.status).toBe(504);
    expect(timedOut.body.code).toBe('TIMEOUT');
    const viaPsql = await runTool('psql', [demoUrl, '-At', '-c', 'SELECT pg_sleep(3)'], { PGOPTIONS: '-c statement_timeout=300' });
    expect(viaPsql.code).not.toBe(0);
    expect(viaPsql.stderr).toMatch(/canceling statement due to statement timeout/);
    // The broker's pool recovers (on PGlite, once the abandoned sleeps have run out).
    await eventually(async () => (await query('SELECT 1 AS one')).status === 200, 30_000, 'the broker serving again');
  });

  it('stops with the broker', async () => {
    await broker.stop();
    const after = await psql(demoUrl, 'SELECT 1');
    expect(after.code).not.toBe(0);
  });
});
