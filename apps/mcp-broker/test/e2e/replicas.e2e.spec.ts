import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  TEST_ADMIN_TOKEN,
  dropSchema,
  randomSuffix,
  startService,
  testDatabaseUrl,
  testRedisUrl,
  uniquePrefix,
  uniqueSchema,
  type ServiceHandle,
} from '@patchbay/testkit';
import { startAuthProxy } from '../support/auth-proxy';
import { EVERYTHING, MCP_HEADERS, putConnector, rawSession, textOf, waitAllActive } from './support';

jest.setTimeout(90_000);

const OTHER_TOKEN = 'pb_test_replica_other_0123456789abcdef';

describe('mcp-broker replicas share 2025-era sessions through Redis', () => {
  const tag = `pbmcprep${randomSuffix()}`;
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  let registry: ServiceHandle;
  let a: ServiceHandle;
  let b: ServiceHandle;
  let balancer: Awaited<ReturnType<typeof startAuthProxy>>;
  const clients: Client[] = [];

  const brokerEnv = {
    PATCHBAY_REDIS_URL: testRedisUrl(),
    PATCHBAY_BUS_PREFIX: prefix,
    PATCHBAY_TOKENS: JSON.stringify([{ name: 'other', token: OTHER_TOKEN, scopes: ['use'] }]),
  };

  beforeAll(async () => {
    registry = await startService('config-registry', {
      env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await putConnector(registry.url, 'everything', { type: 'agent_tool', options: { transport: 'stdio', command: 'node', args: [EVERYTHING, 'stdio', tag] } });
    [a, b] = await Promise.all([
      startService('mcp-broker', { env: { ...brokerEnv, PATCHBAY_REGISTRY_URL: registry.url } }),
      startService('mcp-broker', { env: { ...brokerEnv, PATCHBAY_REGISTRY_URL: registry.url } }),
    ]);
    await Promise.all([waitAllActive(a.url, 1), waitAllActive(b.url, 1)]);
    balancer = await startAuthProxy(a.url, TEST_ADMIN_TOKEN);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await balancer?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await registry?.stop();
    await dropSchema(schema).catch(() => undefined);
  });

  it('keeps the log level a client set on one replica when the other serves its session', async () => {
    const logs: string[] = [];
    const client = new Client({ name: 'leveled', version: '1.0.0' });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(`${n.params.level} ${JSON.stringify(n.params.data)}`));
    await client.connect(new StreamableHTTPClientTransport(new URL(`${balancer.url}/mcp`)));
    clients.push(client);
    await client.setLoggingLevel('debug');
    balancer.retarget(b.url);
    try {
      // The server logs (at info) while it handles the subscribe: b relays it only if it knows the level set on a.
      await client.subscribeResource({ uri: 'demo://resource/static/document/architecture.md' });
      expect(logs).toEqual(expect.arrayContaining([expect.stringMatching(/^info .*Received Subscribe Resource request/)]));
    } finally {
      balancer.retarget(a.url);
    }
  });

  it('routes a client’s answer to the replica that asked, when the balancer sends it to the other', async () => {
    const client = new Client({ name: 'answering', version: '1.0.0' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, () => {
      // The answer's POST goes to b; the call waiting for it runs on a.
      balancer.retarget(b.url);
      return { model: 'replica-model', role: 'assistant', content: { type: 'text', text: 'answered through b' } };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${balancer.url}/mcp`)));
    clients.push(client);
    try {
      const result = await client.callTool({ name: 'everything__trigger-sampling-request', arguments: { prompt: 'crossing', maxTokens: 10 } });
      expect(textOf(result)).toContain('answered through b');
    } finally {
      balancer.retarget(a.url);
    }
  });

  it('serves a session opened on one replica from the other, even once the first is gone', async () => {
    const sampled: string[] = [];
    const client = new Client({ name: 'roaming', version: '1.0.0' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, (request) => {
      sampled.push(JSON.stringify(request.params.messages));
      return { model: 'replica-model', role: 'assistant', content: { type: 'text', text: 'sampled on the other replica' } };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${balancer.url}/mcp`)));
    clients.push(client);
    const onA = (await client.listTools()).tools.map((t) => t.name);
    expect(onA).toContain('everything__trigger-sampling-request');

    // The balancer moves the client to replica b; then replica a goes away.
    balancer.retarget(b.url);
    await a.stop();
    const onB = (await client.listTools()).tools.map((t) => t.name);
    // b replayed the client's initialize: it knows the client can sample, and so do its upstream sessions.
    expect(onB).toContain('everything__trigger-sampling-request');
    expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'on b' } }))).toContain('on b');
    const result = await client.callTool({ name: 'everything__trigger-sampling-request', arguments: { prompt: 'roaming', maxTokens: 10 } });
    expect(textOf(result)).toContain('sampled on the other replica');
    expect(sampled).toEqual([expect.stringContaining('roaming')]);
  });

  it('keeps a shared session to its token, and forgets it everywhere once deleted', async () => {
    const id = await rawSession(b.url, TEST_ADMIN_TOKEN);
    const [c] = await Promise.all([startService('mcp-broker', { env: { ...brokerEnv, PATCHBAY_REGISTRY_URL: registry.url } })]);
    try {
      await waitAllActive(c.url, 1);
      const post = (token: string): Promise<Response> =>
        fetch(`${c.url}/mcp`, {
          method: 'POST',
          headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, 'mcp-session-id': id },
          body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
        });
      const served = await post(TEST_ADMIN_TOKEN);
      expect(served.status).toBe(200);
      expect(served.headers.get('mcp-session-id')).toBe(id);
      expect(await served.text()).toContain('everything__echo');
      const stolen = await post(OTHER_TOKEN);
      expect(stolen.status).toBe(404);
      await stolen.text();
      const deleted = await fetch(`${c.url}/mcp`, { method: 'DELETE', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'mcp-session-id': id } });
      expect(deleted.status).toBe(200);
      // b opened it but the client ended it on c: b's copy stays until b's own idle sweep, a third replica no longer knows it.
      const d = await startService('mcp-broker', { env: { ...brokerEnv, PATCHBAY_REGISTRY_URL: registry.url } });
      try {
        const gone = await fetch(`${d.url}/mcp`, {
          method: 'POST',
          headers: { ...MCP_HEADERS, authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'mcp-session-id': id },
          body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/list' }),
        });
        expect(gone.status).toBe(404);
        await gone.text();
      } finally {
        await d.stop();
      }
    } finally {
      await c.stop();
    }
  });
});
