import { api, eventually, freePort, startService, type ServiceHandle } from '@patchbay/testkit';

jest.setTimeout(90_000);

describe('llm-proxy started before the registry', () => {
  const started: ServiceHandle[] = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  it('answers 503 with Retry-After (OpenAI shape) for a model it cannot know yet, then 404 once synced', async () => {
    const registryPort = await freePort();
    const proxy = await startService('llm-proxy', { env: { PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${registryPort}` } });
    started.push(proxy);
    const ask = () => api(proxy.url, 'POST', '/v1/chat/completions', { body: { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] } });

    const early = await ask();
    expect(early.status).toBe(503);
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(early.body.error.message).toContain("model 'gpt-test' cannot be looked up yet");
    expect(early.body.error.message).toContain('registry');

    started.push(await startService('config-registry', { port: registryPort }));
    await eventually(async () => (await ask()).status === 404, 20_000, 'the proxy to sync and answer 404');
    expect((await ask()).body.error.code).toBe('model_not_found');
  });
});
