import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  TEST_ADMIN_TOKEN,
  api,
  dropSchema,
  randomSuffix,
  startService,
  testDatabaseUrl,
  testRedisUrl,
  uniquePrefix,
  uniqueSchema,
  type ServiceHandle,
} from '@patchbay/testkit';
import { EVERYTHING, grpcCaller, MCP_HEADERS, mcpClient, PROBE, putConnector, rawInitialize, rawRequest, rawSession, waitAllActive } from './support';

jest.setTimeout(60_000);

/** May use (and read) only the `probes` connector. */
const LIMITED_TOKEN = 'pb_test_limited_token_0123456789abcdef';
const CAP_A_TOKEN = 'pb_test_cap_a_token_0123456789abcdef';
const CAP_B_TOKEN = 'pb_test_cap_b_token_0123456789abcdef';

describe('mcp-broker access: origins, visibility, session caps, bad input', () => {
  const tag = `pbmcpacc${randomSuffix()}`;
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  let registry: ServiceHandle;
  let broker: ServiceHandle;
  /** Small session caps and an explicit origin list. */
  let capped: ServiceHandle;
  const clients: Client[] = [];

  const connect = async (url: string, token?: string): Promise<Client> => {
    const client = await mcpClient(url, token);
    clients.push(client);
    return client;
  };
  const put = (configId: string, body: unknown): Promise<void> => putConnector(registry.url, configId, body);
  const brokerEnv = (extra: Record<string, string>): Record<string, string> => ({
    PATCHBAY_REGISTRY_URL: registry.url,
    PATCHBAY_REDIS_URL: testRedisUrl(),
    PATCHBAY_BUS_PREFIX: prefix,
    PATCHBAY_TOKENS: JSON.stringify([
      { name: 'limited', token: LIMITED_TOKEN, scopes: ['use', 'read'], connectors: ['probes'] },
      { name: 'cap-a', token: CAP_A_TOKEN, scopes: ['use'] },
      { name: 'cap-b', token: CAP_B_TOKEN, scopes: ['use'] },
    ]),
    ...extra,
  });
  const allActive = (url: string): Promise<void> => waitAllActive(url, 2);

  beforeAll(async () => {
    registry = await startService('config-registry', {
      env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await put('everything', { type: 'agent_tool', options: { transport: 'stdio', command: 'node', args: [EVERYTHING, 'stdio', tag] } });
    await put('probes', { type: 'agent_tool', options: { transport: 'stdio' }, members: [{ id: 'probe', options: { command: 'node', args: [PROBE, tag] } }] });
    [broker, capped] = await Promise.all([
      startService('mcp-broker', { env: brokerEnv({}) }),
      startService('mcp-broker', {
        env: brokerEnv({
          PATCHBAY_MCP_MAX_SESSIONS: '3',
          PATCHBAY_MCP_MAX_SESSIONS_PER_TOKEN: '2',
          PATCHBAY_MCP_ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:3000',
        }),
      }),
    ]);
    await Promise.all([allActive(broker.url), allActive(capped.url)]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all([broker?.stop(), capped?.stop()]);
    await registry?.stop();
    await dropSchema(schema).catch(() => undefined);
  });

  describe('Origin (DNS rebinding protection)', () => {
    it('rejects a foreign browser origin with 403 and a JSON-RPC error naming the setting', async () => {
      for (const method of ['POST', 'GET', 'DELETE']) {
        const response = await fetch(`${broker.url}/mcp`, {
          method,
          headers: { ...MCP_HEADERS, authorization: `Bearer ${TEST_ADMIN_TOKEN}`, origin: 'http://evil.example' },
          ...(method === 'POST' ? { body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) } : {}),
        });
        expect(response.status).toBe(403);
        expect(await response.json()).toMatchObject({
          jsonrpc: '2.0',
          id: null,
          error: { code: -32600, message: expect.stringContaining('PATCHBAY_MCP_ALLOWED_ORIGINS') },
        });
      }
      // A rebinding page on a loopback-looking name is still another origin.
      expect((await rawInitialize(broker.url, TEST_ADMIN_TOKEN, { origin: 'http://localhost.evil.example:8080' })).status).toBe(403);
    });

    it('lets loopback origins through by default, and requests without Origin', async () => {
      for (const origin of ['http://localhost:5173', 'http://127.0.0.1:8080', 'http://[::1]:3000']) {
        const response = await rawInitialize(broker.url, TEST_ADMIN_TOKEN, { origin });
        expect(response.status).toBe(200);
        await response.text();
      }
      const client = await connect(broker.url);
      expect((await client.listTools()).tools.length).toBeGreaterThan(1);
    });

    it('follows PATCHBAY_MCP_ALLOWED_ORIGINS when set', async () => {
      const allowed = await rawInitialize(capped.url, CAP_A_TOKEN, { origin: 'https://app.example.com' });
      expect(allowed.status).toBe(200);
      await allowed.text();
      const session = allowed.headers.get('mcp-session-id') ?? '';
      expect((await rawInitialize(capped.url, CAP_A_TOKEN, { origin: 'http://localhost:5173' })).status).toBe(403);
      expect((await rawInitialize(capped.url, CAP_A_TOKEN, { origin: 'https://app.example.com:8443' })).status).toBe(403);
      const closed = await fetch(`${capped.url}/mcp`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${CAP_A_TOKEN}`, 'mcp-session-id': session, origin: 'http://localhost:3000' },
      });
      expect(closed.status).toBe(200);
    });
  });

  describe('a token limited to some connectors sees and calls only those', () => {
    it('on /mcp: tools, resources, resource templates, prompts and patchbay__servers', async () => {
      const admin = await connect(broker.url);
      const adminTemplates = (await admin.listResourceTemplates()).resourceTemplates;
      expect(adminTemplates.some((t) => t.name.startsWith('everything__'))).toBe(true);

      const limited = await connect(broker.url, LIMITED_TOKEN);
      const tools = (await limited.listTools()).tools.map((t) => t.name);
      expect(tools).toContain('probe__wait');
      expect(tools.some((n) => n.startsWith('everything__'))).toBe(false);
      expect((await limited.listResourceTemplates()).resourceTemplates).toEqual([]);
      expect((await limited.listResources()).resources).toEqual([]);
      const servers = (await limited.callTool({ name: 'patchbay__servers', arguments: {} })) as { structuredContent?: { servers: { id: string }[] } };
      expect(servers.structuredContent?.servers.map((s) => s.id)).toEqual(['probe']);
      await expect(limited.callTool({ name: 'everything__echo', arguments: { message: 'x' } })).rejects.toMatchObject({ code: -32602 });
    });

    it('on REST and gRPC: servers and tools', async () => {
      const list = await api<{ items: { id: string }[] }>(broker.url, 'GET', '/v1/servers', { token: LIMITED_TOKEN });
      expect(list.status).toBe(200);
      expect(list.body.items.map((s) => s.id)).toEqual(['probe']);
      expect((await api(broker.url, 'GET', '/v1/servers/everything', { token: LIMITED_TOKEN })).status).toBe(404);
      expect((await api(broker.url, 'GET', '/v1/servers/probe', { token: LIMITED_TOKEN })).status).toBe(200);
      const tools = await api<{ items: { server: string | null }[] }>(broker.url, 'GET', '/v1/tools', { token: LIMITED_TOKEN });
      expect(new Set(tools.body.items.map((t) => t.server))).toEqual(new Set([null, 'probe']));
      expect((await api(broker.url, 'POST', '/v1/tools/everything__echo/call', { body: { arguments: { message: 'x' } }, token: LIMITED_TOKEN })).status).toBe(
        404,
      );

      const grpc = grpcCaller(broker.grpcAddress);
      try {
        const servers = await grpc.unary('ListServers', {}, LIMITED_TOKEN);
        expect((servers.items as { id: string }[]).map((s) => s.id)).toEqual(['probe']);
        await expect(grpc.unary('GetServer', { id: 'everything' }, LIMITED_TOKEN)).rejects.toMatchObject({ code: 5 });
        const grpcTools = await grpc.unary('ListTools', {}, LIMITED_TOKEN);
        expect((grpcTools.items as { name: string }[]).some((t) => t.name.startsWith('everything__'))).toBe(false);
        await expect(grpc.unary('CallTool', { name: 'everything__echo', argumentsJson: '{"message":"x"}' }, LIMITED_TOKEN)).rejects.toMatchObject({ code: 5 });
        // The admin still sees everything.
        const all = await grpc.unary('ListServers', {}, TEST_ADMIN_TOKEN);
        expect((all.items as { id: string }[]).map((s) => s.id).sort()).toEqual(['everything', 'probe']);
      } finally {
        grpc.close();
      }
    });
  });

  it('caps sessions per token (429) and in total (503) with Retry-After; DELETE /mcp frees a slot', async () => {
    const a1 = await connect(capped.url, CAP_A_TOKEN);
    await connect(capped.url, CAP_A_TOKEN);
    const overToken = await rawInitialize(capped.url, CAP_A_TOKEN);
    expect(overToken.status).toBe(429);
    expect(Number(overToken.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const tokenError = (await overToken.json()) as { error: { message: string } };
    expect(tokenError).toMatchObject({ jsonrpc: '2.0', id: null, error: { data: { code: 'RATE_LIMITED' } } });
    expect(tokenError.error.message).toContain('PATCHBAY_MCP_MAX_SESSIONS_PER_TOKEN');
    expect(tokenError.error.message).toContain('DELETE /mcp');

    await connect(capped.url, CAP_B_TOKEN);
    const overTotal = await rawInitialize(capped.url, CAP_B_TOKEN);
    expect(overTotal.status).toBe(503);
    expect(Number(overTotal.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const totalError = (await overTotal.json()) as { error: { message: string } };
    expect(totalError.error.message).toContain('PATCHBAY_MCP_MAX_SESSIONS');
    expect(totalError.error.message).not.toContain('PER_TOKEN');

    // Closing a session (DELETE /mcp) makes room again.
    await (a1.transport as StreamableHTTPClientTransport).terminateSession();
    const b2 = await connect(capped.url, CAP_B_TOKEN);
    expect((await b2.listTools()).tools.length).toBeGreaterThan(1);
  });

  it('answers tools/call without a name with -32602 and a clear message, on both paths', async () => {
    const session = await rawSession(broker.url, TEST_ADMIN_TOKEN);
    const messages = [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: {} } },
      { jsonrpc: '2.0', id: 2, method: 'tools/call' },
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 7 } },
      // A progress token takes the SDK's streaming path.
      { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { arguments: {}, _meta: { progressToken: 'p' } } },
    ];
    for (const message of messages) {
      const { body } = await rawRequest(broker.url, TEST_ADMIN_TOKEN, session, message);
      expect(body).toMatchObject({ jsonrpc: '2.0', id: message.id, error: { code: -32602, message: expect.stringContaining('params.name') } });
      expect(JSON.stringify(body)).not.toContain('invalid_type');
    }
    const badArguments = await rawRequest(broker.url, TEST_ADMIN_TOKEN, session, {
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'probe__stats', arguments: [1] },
    });
    expect(badArguments.body).toMatchObject({ id: 5, error: { code: -32602, message: expect.stringContaining('params.arguments') } });
  });
});
