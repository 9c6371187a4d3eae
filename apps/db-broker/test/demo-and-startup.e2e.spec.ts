import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { api, eventually, freePort, startService, type ServiceHandle } from '@patchbay/testkit';
import { withClient } from './support/stack';

const run = promisify(execFile);
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

  it('serves the demo PGlite to psql and, once the registry is up, through the broker', async () => {
    const demoPort = await freePort();
    const registryPort = await freePort();
    const broker = await startService('db-broker', {
      env: { PATCHBAY_DB_WIRE_PORT: '0', PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${registryPort}`, PATCHBAY_DEMO_PGLITE_PORT: String(demoPort) },
    });
    started.push(broker);
    await broker.waitForLog(/demo PGlite database listening/, 30_000);
    expect(broker.dataDir).toBeTruthy();

    const psql = async (sql: string): Promise<string> =>
      (
        await run('psql', ['-h', '127.0.0.1', '-p', String(demoPort), '-U', 'postgres', '-d', 'postgres', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
          timeout: 30_000,
        })
      ).stdout.trim();
    expect(await psql('SELECT name FROM demo_items ORDER BY id')).toBe('patchbay\npglite\npostgres');
    await psql("INSERT INTO demo_items (name) VALUES ('from-psql')");

    // A second client at the same time: clients take turns on the single backend.
    const demoUrl = `postgres://postgres@127.0.0.1:${demoPort}/postgres`;
    await withClient(demoUrl, async (client) => {
      await client.query('BEGIN');
      await client.query("INSERT INTO demo_items (name) VALUES ('in-tx')");
      const psqlWhileOpen = psql("SELECT count(*) FROM demo_items WHERE name = 'in-tx'");
      await new Promise((r) => setTimeout(r, 200));
      await client.query('ROLLBACK');
      // psql waited for the transaction to end, then saw nothing of it.
      expect(await psqlWhileOpen).toBe('0');
    });

    const registry = await startService('config-registry', { port: registryPort });
    started.push(registry);
    const put = await api(registry.url, 'PUT', '/v1/connectors/DATABASE', { body: { type: 'database', url: demoUrl, options: { max: 2 } } });
    expect(put.status).toBe(201);
    const answer = await eventually(
      async () => {
        const response = await api(broker.url, 'POST', '/v1/databases/DATABASE/query', {
          body: { sql: 'SELECT name FROM demo_items WHERE name = $1', params: ['from-psql'] },
        });
        return response.status === 200 ? response : undefined;
      },
      30_000,
      'broker query on the demo database',
    );
    expect(answer.body.rows).toEqual([{ name: 'from-psql' }]);
    expect(await psql('SELECT 1')).toBe('1');
  });
});
