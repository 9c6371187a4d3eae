import { api, eventually, freePort, startService, type ServiceHandle } from '@patchbay/testkit';

jest.setTimeout(150_000);

describe('mcp-broker started before the registry', () => {
  const started: ServiceHandle[] = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  it('answers 503 with Retry-After for a tool it cannot know yet, then 404 once synced', async () => {
    const registryPort = await freePort();
    const broker = await startService('mcp-broker', { env: { PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${registryPort}` } });
    started.push(broker);
    const call = () => api(broker.url, 'POST', '/v1/tools/files__read/call', { body: { arguments: {} } });

    const early = await call();
    expect(early.status).toBe(503);
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(early.body).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', detail: expect.stringContaining("tool 'files__read' cannot be looked up yet") });

    // The embedded store (PGlite) is slow to start on a loaded machine.
    started.push(await startService('config-registry', { port: registryPort, timeoutMs: 90_000 }));
    await eventually(async () => (await call()).status === 404, 20_000, 'the broker to sync and answer 404');
    expect((await call()).body).toMatchObject({ code: 'NOT_FOUND' });
  });
});
