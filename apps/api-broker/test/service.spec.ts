import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService, type StartedService } from '@patchbay/nest';
import { TEST_ADMIN_TOKEN, freePort } from '@patchbay/testkit';
import { API_BROKER } from '../src/service';

// In-process, with no registry listening: the service must come up and say why it cannot forward yet.
describe('api-broker service, before its first registry load', () => {
  let service: StartedService;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pb-api-'));
    service = await startService(API_BROKER, {
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: '0',
      GRPC_PORT: '0',
      PATCHBAY_DATA_DIR: dataDir,
      PATCHBAY_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${await freePort()}`,
      LOG_LEVEL: 'silent',
    });
  });

  afterAll(async () => {
    await service.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const get = (path: string): Promise<Response> => fetch(`${service.url}${path}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });

  it('is not ready, naming the registry check', async () => {
    const res = await get('/health/ready');
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('not loaded from the registry yet');
  });

  it('answers 503 with Retry-After for a connector it cannot know yet, not 404', async () => {
    const res = await get('/v1/apis/ORDERS/items');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).not.toBeNull();
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('serves its status list meanwhile', async () => {
    const res = await get('/v1/connections');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ items: [] });
  });
});
