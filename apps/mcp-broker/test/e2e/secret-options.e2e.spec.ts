import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  api,
  dropSchema,
  freePort,
  randomSuffix,
  startService,
  testDatabaseUrl,
  testRedisUrl,
  uniquePrefix,
  uniqueSchema,
  type ServiceHandle,
} from '@patchbay/testkit';
import { mcpClient, putConnector, textOf, waitAllActive } from './support';

jest.setTimeout(60_000);

const SECRET_SERVER = join(__dirname, '..', 'fixtures', 'secret-server.cjs');
const READ_TOKEN = 'pb_test_read_token_0123456789abcdef';
const ENV_SECRET = `env-secret-${randomSuffix()}`;
const MEMBER_SECRET = `member-secret-${randomSuffix()}`;
const HEADER_SECRET = `header-secret-${randomSuffix()}`;

/** The registry keeps agent tool env and headers encrypted; the broker still gets them and its servers work. */
describe('mcp-broker with secret env and headers from the registry', () => {
  const tag = `pbsecret${randomSuffix()}`;
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  let registry: ServiceHandle;
  let broker: ServiceHandle;
  let http: ChildProcess;
  let client: Client;

  const put = (configId: string, body: unknown): Promise<void> => putConnector(registry.url, configId, body);

  beforeAll(async () => {
    const port = await freePort();
    http = spawn(process.execPath, [SECRET_SERVER, 'http', String(port), tag], {
      env: { ...process.env, EXPECTED_KEY: HEADER_SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const listening = new Promise<void>((resolve) => http.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && resolve()));
    registry = await startService('config-registry', {
      env: {
        PATCHBAY_DATABASE_URL: testDatabaseUrl(),
        PATCHBAY_DATABASE_SCHEMA: schema,
        PATCHBAY_REDIS_URL: testRedisUrl(),
        PATCHBAY_BUS_PREFIX: prefix,
        PATCHBAY_TOKENS: JSON.stringify([{ name: 'viewer', token: READ_TOKEN, scopes: ['read'] }]),
      },
    });
    await listening;
    await put('secretenv', {
      type: 'agent_tool',
      options: { transport: 'stdio', command: 'node', args: [SECRET_SERVER, 'stdio', tag], env: { PROBE_SECRET: ENV_SECRET } },
    });
    await put('secrethttp', {
      type: 'agent_tool',
      url: `http://127.0.0.1:${port}/mcp`,
      options: { transport: 'streamable-http', headers: { 'x-probe-key': HEADER_SECRET } },
    });
    await put('secretset', {
      type: 'agent_tool',
      options: { transport: 'stdio' },
      members: [{ id: 'secretmember', options: { command: 'node', args: [SECRET_SERVER, 'stdio', tag], env: { PROBE_SECRET: MEMBER_SECRET } } }],
    });
    broker = await startService('mcp-broker', {
      env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await waitAllActive(broker.url, 3);
    client = await mcpClient(broker.url);
  }, 120_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await broker?.stop();
    await registry?.stop();
    if (http && http.exitCode === null) {
      const exited = new Promise((resolve) => http.once('exit', resolve));
      http.kill('SIGKILL');
      await exited;
    }
    await dropSchema(schema).catch(() => undefined);
  });

  it('hands the stdio server its env and the HTTP server its header', async () => {
    expect(textOf(await client.callTool({ name: 'secretenv__secret', arguments: {} }))).toBe(ENV_SECRET);
    expect(textOf(await client.callTool({ name: 'secretmember__secret', arguments: {} }))).toBe(MEMBER_SECRET);
    expect(textOf(await client.callTool({ name: 'secrethttp__secret', arguments: {} }))).toBe(HEADER_SECRET);
  });

  it('shows a reader only the key names', async () => {
    const reads = await Promise.all(
      ['/v1/connectors', '/v1/connectors/secretenv', '/v1/connectors/secrethttp/resolve', '/v1/connectors/secretset/history'].map((path) =>
        api(registry.url, 'GET', path, { token: READ_TOKEN }),
      ),
    );
    for (const read of reads) {
      expect(read.status).toBe(200);
      expect(read.text).not.toContain(ENV_SECRET);
      expect(read.text).not.toContain(MEMBER_SECRET);
      expect(read.text).not.toContain(HEADER_SECRET);
    }
    expect(reads[1]?.body.options.envSet).toEqual(['PROBE_SECRET']);
    expect(reads[2]?.body.options.headersSet).toEqual(['x-probe-key']);
    expect(registry.logs()).not.toContain(ENV_SECRET);
    expect(broker.logs()).not.toContain(HEADER_SECRET);
  });
});
