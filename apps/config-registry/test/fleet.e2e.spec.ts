import { api, createTestDatabase, eventually, startService, testRedisUrl, type ServiceHandle, type TestDatabase } from '@patchbay/testkit';
import { startRegistry, TOKENS, type TestRegistry } from './support/registry';

interface Fleet {
  head: number;
  instances: Array<{
    service: string;
    instance: string;
    revision: number;
    status: string;
    connections: Array<{ id: string; configId: string; state: string; breaker: string; revision: number }>;
  }>;
}

let registry: TestRegistry;
let replica: TestRegistry | undefined;
let dbBroker: ServiceHandle | undefined;
let database: TestDatabase;

async function fleet(url: string, token?: string): Promise<Fleet> {
  const response = await api<Fleet>(url, 'GET', '/v1/fleet', token === undefined ? {} : { token });
  expect(response.status).toBe(200);
  return response.body;
}

beforeAll(async () => {
  database = await createTestDatabase('pbfleet');
  registry = await startRegistry('postgres');
}, 90_000);

afterAll(async () => {
  await dbBroker?.stop();
  await replica?.stop();
  await registry?.stop();
  await database?.drop();
});

describe('GET /v1/fleet', () => {
  it('shows each broker instance, the revision it applied, and each connection live, in Redis for every replica', async () => {
    const put = await api(registry.url, 'PUT', '/v1/connectors/DATABASE', { body: { type: 'database', url: database.url } });
    const revision = put.body.connector.revision as number;
    // A heartbeat far longer than the test: whatever arrives comes from changes, and a
    // replica started later can only know the instance from the shared store.
    dbBroker = await startService('db-broker', {
      timeoutMs: 60_000,
      env: {
        PATCHBAY_REGISTRY_URL: registry.url,
        PATCHBAY_REDIS_URL: testRedisUrl(),
        PATCHBAY_BUS_PREFIX: registry.busPrefix,
        PATCHBAY_FLEET_REPORT_INTERVAL_MS: '600000',
      },
    });
    const live = await eventually(
      async () => {
        const body = await fleet(registry.url);
        const db = body.instances.find((i) => i.service === 'db-broker');
        return db?.connections.some((c) => c.state === 'active') ? db : undefined;
      },
      60_000,
      'db-broker reported with an active connection',
    );
    expect(live).toMatchObject({ status: 'live', revision: expect.any(Number) });
    expect(live.revision).toBeGreaterThanOrEqual(revision);
    expect(live.connections).toEqual([{ id: 'DATABASE', configId: 'DATABASE', kind: expect.any(String), state: 'active', breaker: 'closed', revision }]);
    expect(JSON.stringify(live)).not.toContain(database.name);

    replica = await startRegistry('postgres', {}, { schema: registry.schema, busPrefix: registry.busPrefix });
    expect((await fleet(replica.url)).instances.map((i) => [i.service, i.instance])).toEqual([[live.service, live.instance]]);

    // A breaker change reaches the fleet view without waiting for a heartbeat.
    const forced = await api(dbBroker.url, 'POST', '/v1/databases/DATABASE/breaker', { body: { action: 'open' } });
    expect(forced.status).toBe(200);
    await eventually(
      async () => (await fleet(replica!.url)).instances[0]?.connections[0]?.breaker === 'forced_open',
      60_000,
      'breaker forced_open on the replica',
    );
  });

  it("limits connections to the token's allow-list and needs the read scope", async () => {
    const limited = await fleet(registry.url, TOKENS.limited);
    expect(limited.instances.find((i) => i.service === 'db-broker')?.connections).toEqual([]);
    expect((await api(registry.url, 'GET', '/v1/fleet', { token: TOKENS.user })).status).toBe(403);
    expect((await api(registry.url, 'GET', '/v1/fleet', { token: null })).status).toBe(401);
  });

  it('drops an instance as soon as it shuts down', async () => {
    await dbBroker?.stop();
    dbBroker = undefined;
    await eventually(async () => (await fleet(registry.url)).instances.every((i) => i.service !== 'db-broker'), 60_000, 'db-broker gone');
  });
});

describe('GET /v1/fleet without Redis (embedded defaults)', () => {
  it('receives the brokers’ reports over HTTP instead of the bus', async () => {
    const embedded = await startRegistry('pglite', { PATCHBAY_REDIS_URL: undefined });
    const broker = await startService('db-broker', {
      timeoutMs: 60_000,
      env: { PATCHBAY_REGISTRY_URL: embedded.url, PATCHBAY_REDIS_URL: undefined, PATCHBAY_FLEET_REPORT_INTERVAL_MS: '500' },
    });
    try {
      await api(embedded.url, 'PUT', '/v1/connectors/DATABASE', { body: { type: 'database', url: database.url } });
      const db = await eventually(
        async () => (await fleet(embedded.url)).instances.find((i) => i.service === 'db-broker' && i.connections.some((c) => c.state === 'active')),
        60_000,
        'db-broker reported over HTTP',
      );
      expect(db.connections).toEqual([expect.objectContaining({ configId: 'DATABASE', state: 'active', breaker: 'closed' })]);
      // Only the brokers' token writes the fleet: a read-only token is refused.
      const envelope = { v: 1, type: 'instance.report.v1', id: 'x', at: new Date().toISOString(), source: { service: 'fake', instance: 'f1' }, data: {} };
      expect((await api(embedded.url, 'POST', '/v1/fleet/events', { body: envelope, token: TOKENS.reader })).status).toBe(403);
      expect((await api(embedded.url, 'POST', '/v1/fleet/events', { body: { v: 2 } })).status).toBe(400);
    } finally {
      await broker.stop();
      await embedded.stop();
    }
  });
});
