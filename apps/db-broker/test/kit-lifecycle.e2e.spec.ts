import {
  TEST_ADMIN_TOKEN,
  TcpProxy,
  api,
  eventually,
  freePort,
  rawHttp,
  startService,
  testRedisUrl,
  uniquePrefix,
  type ServiceHandle,
} from '@patchbay/testkit';

jest.setTimeout(90_000);

/** Services started by a test, stopped after it whatever happens. */
const started: ServiceHandle[] = [];
async function start(app: string, options: Parameters<typeof startService>[1]): Promise<ServiceHandle> {
  const service = await startService(app, options);
  started.push(service);
  return service;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

const query = (broker: ServiceHandle, configId: string) => api(broker.url, 'POST', `/v1/databases/${configId}/query`, { body: { sql: 'SELECT 1' } });

describe('db-broker (built) and the kit around it', () => {
  it('answers 503 with Retry-After, not 404, until it has loaded connectors from the registry', async () => {
    const registryPort = await freePort();
    const broker = await start('db-broker', { env: { PATCHBAY_DB_WIRE_PORT: '0', PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${registryPort}` } });

    const early = await query(broker, 'MISSING');
    expect(early.status).toBe(503);
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(early.body).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', detail: expect.stringContaining('registry') });
    expect(early.body.detail).toContain("database connector 'MISSING'");

    await start('config-registry', { port: registryPort });
    await eventually(async () => (await query(broker, 'MISSING')).status === 404, 20_000, 'the broker to sync and answer 404');
    const late = await query(broker, 'MISSING');
    expect(late.body).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('stays ready with Redis down and reports the bus as degraded (registry and broker)', async () => {
    const redis = new URL(testRedisUrl());
    const proxy = new TcpProxy(redis.hostname, Number(redis.port || 6379));
    await proxy.start();
    try {
      const shared = { PATCHBAY_REDIS_URL: `redis://127.0.0.1:${proxy.port}`, PATCHBAY_BUS_PREFIX: uniquePrefix() };
      const registry = await start('config-registry', { env: shared });
      const broker = await start('db-broker', {
        env: { ...shared, PATCHBAY_DB_WIRE_PORT: '0', PATCHBAY_REGISTRY_URL: registry.url },
        readyPath: '/health/ready',
      });
      await proxy.cut();
      for (const service of [registry, broker]) {
        const ready = await eventually(
          async () => {
            const response = await api(service.url, 'GET', '/health/ready', { token: null });
            return response.body?.details?.bus?.status === 'down' || response.status !== 200 ? response : undefined;
          },
          20_000,
          `${service.name} to notice the bus is gone`,
        );
        expect(ready.status).toBe(200);
        expect(ready.body).toMatchObject({ status: 'ok', degraded: ['bus'], details: { bus: { status: 'down', required: false } } });
      }
      // And it does keep serving.
      expect((await query(broker, 'MISSING')).status).toBe(404);
    } finally {
      await proxy.stop();
    }
  });

  it('shuts down cleanly on a repeated SIGTERM, finishing the request in flight', async () => {
    const broker = await start('db-broker', { env: { PATCHBAY_DB_WIRE_PORT: '0', PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${await freePort()}` } });
    const body = JSON.stringify({ sql: 'SELECT 1' });
    // In flight: headers and half the body sent, the rest held back until both signals are in.
    const exchange = rawHttp(
      broker.port,
      `POST /v1/databases/ANY/query HTTP/1.1\r\nhost: test\r\nauthorization: Bearer ${TEST_ADMIN_TOKEN}\r\n` +
        `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      broker.process.once('exit', (code, signal) => resolve({ code, signal })),
    );
    // Once the bytes are out and a later request on another connection was answered, the
    // server has read this one's headers: the request is in flight.
    await exchange.sent;
    expect((await api(broker.url, 'GET', '/health/live', { token: null })).status).toBe(200);
    broker.process.kill('SIGTERM');
    await broker.waitForLog(/"msg":"shutting down"/);
    // What a process group stop does: the same signal again (e.g. `kill -TERM -<pgid>` + a forwarder).
    broker.process.kill('SIGTERM');
    await broker.waitForLog(/"msg":"already shutting down"/);
    exchange.write(body.slice(5));
    const response = await exchange.response;
    expect(response.status).toBe(503);
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(broker.logs()).toMatch(/"msg":"stopped"/);
  });
});
