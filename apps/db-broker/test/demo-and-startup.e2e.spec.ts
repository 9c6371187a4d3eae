import { api, freePort, startService, type ServiceHandle } from '@patchbay/testkit';

jest.setTimeout(90_000);

describe('db-broker demo database and degraded start (built app)', () => {
  const started: ServiceHandle[] = [];
  afterAll(async () => {
    for (const service of started.reverse()) await service.stop();
  });

  it('starts with the registry and Redis unreachable', async () => {
    const broker = await startService('db-broker', {
      env: {
        PATCHBAY_DB_WIRE_PORT: '0',
        PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${await freePort()}`,
        PATCHBAY_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      },
    });
    started.push(broker);
    expect((await api(broker.url, 'GET', '/health/live', { token: null })).status).toBe(200);
    const ready = await api(broker.url, 'GET', '/health/ready', { token: null });
    expect(ready.status).toBe(503);
    expect(JSON.stringify(ready.body)).toMatch(/registry/);
    expect((await api(broker.url, 'GET', '/v1/databases')).body).toEqual({ items: [] });
    // Graceful shutdown still works while the registry and Redis are unreachable.
    started.splice(started.indexOf(broker), 1);
    expect(await broker.stop()).toEqual({ code: 0, signal: null });
  });
});
