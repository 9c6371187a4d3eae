import { TEST_ADMIN_TOKEN, TcpProxy, api, createTestDatabase, eventually, freePort, testDatabaseUrl, type TestDatabase } from '@patchbay/testkit';
import { ConnectorClient } from '../src';
import { FollowingPool, type PoolEvent } from '../src/pg';
import { startRegistry, type Registry } from './support';

let registry: Registry;
let first: TestDatabase;
let second: TestDatabase;
let proxy: TcpProxy;
const pools: FollowingPool[] = [];
const clients: ConnectorClient[] = [];

/** The database URL as a connector writes it: no password in the url, user as credential. */
function connectorBody(url: string): { type: 'database'; url: string; credentials: { username: string } } {
  const parsed = new URL(url);
  const username = decodeURIComponent(parsed.username);
  parsed.username = '';
  parsed.password = '';
  return { type: 'database', url: parsed.toString(), credentials: { username } };
}

function client(): ConnectorClient {
  const c = new ConnectorClient({ env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_TOKEN: TEST_ADMIN_TOKEN, PATCHBAY_MODE: 'stack' } });
  clients.push(c);
  return c;
}

async function open(configId: string, events: PoolEvent[] = []): Promise<FollowingPool> {
  const pool = await FollowingPool.open(client(), { configId, backoff: { initialDelayMs: 20, maxDelayMs: 200 }, onEvent: (e) => events.push(e) });
  pools.push(pool);
  return pool;
}

beforeAll(async () => {
  registry = await startRegistry();
  [first, second] = await Promise.all([createTestDatabase('pbclienta'), createTestDatabase('pbclientb')]);
  const target = new URL(testDatabaseUrl());
  proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.start();
}, 90_000);

afterAll(async () => {
  for (const pool of pools) await pool.close();
  for (const c of clients) await c.close();
  await proxy?.stop();
  await registry?.stop();
  await first?.drop();
  await second?.drop();
});

it('swaps to the new database when the connector changes, finishing the in-flight query on the old one', async () => {
  await api(registry.url, 'PUT', '/v1/connectors/SWAPDB', { body: connectorBody(first.url) });
  const events: PoolEvent[] = [];
  const pool = await open('SWAPDB', events);
  await pool.ready();
  expect((await pool.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db).toBe(first.name);

  const inFlight = pool.query<{ db: string }>('SELECT current_database() AS db, pg_sleep(0.5)');
  await api(registry.url, 'PUT', '/v1/connectors/SWAPDB', { body: connectorBody(second.url) });
  await eventually(async () => (await pool.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db === second.name, 20_000, 'swap');
  expect((await inFlight).rows[0]?.db).toBe(first.name);
  expect(events.map((e) => e.type)).toContain('swapped');
});

it('starts without its database, fails fast while it is down, and connects once it is back', async () => {
  const port = await freePort();
  const target = new URL(testDatabaseUrl());
  target.host = `127.0.0.1:${port}`;
  const down = new TcpProxy(new URL(testDatabaseUrl()).hostname, Number(new URL(testDatabaseUrl()).port || 5432));
  await api(registry.url, 'PUT', '/v1/connectors/LATEDB', { body: connectorBody(target.toString()) });
  const events: PoolEvent[] = [];
  const pool = await open('LATEDB', events);
  await eventually(() => pool.state === 'retrying', 20_000, 'retrying');
  await expect(pool.query('SELECT 1')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  expect(events.find((e) => e.type === 'retrying')).toMatchObject({ error: 'ECONNREFUSED' });

  await down.start(port);
  await pool.ready();
  expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
  await pool.close();
  await down.stop();
});

it('reconnects with backoff after the connection is lost', async () => {
  const target = new URL(testDatabaseUrl());
  target.host = `127.0.0.1:${proxy.port}`;
  await api(registry.url, 'PUT', '/v1/connectors/FLAKYDB', { body: connectorBody(target.toString()) });
  const events: PoolEvent[] = [];
  const pool = await open('FLAKYDB', events);
  await pool.ready();
  await proxy.cut();
  await expect(pool.query('SELECT 1')).rejects.toBeDefined();
  await eventually(() => pool.state === 'retrying', 20_000, 'noticed the loss');
  const attempts = (): number => events.filter((e) => e.type === 'retrying').length;
  await eventually(() => attempts() >= 3, 20_000, 'several reconnect attempts');
  await proxy.restore();
  await pool.ready();
  expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
});

it('answers NOT_FOUND for a connector that has no url, and follows it once created', async () => {
  const pool = await open('NEWDB');
  await expect(pool.query('SELECT 1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await api(registry.url, 'PUT', '/v1/connectors/NEWDB', { body: connectorBody(first.url) });
  await pool.ready();
  expect((await pool.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db).toBe(first.name);
});
