import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  TEST_ADMIN_TOKEN,
  api,
  dropSchema,
  eventually,
  randomSuffix,
  startService,
  testDatabaseUrl,
  testRedisUrl,
  uniquePrefix,
  uniqueSchema,
  type ServiceHandle,
} from '@patchbay/testkit';
import { EVERYTHING, grpcCaller, MCP_HEADERS, MEMORY, mcpClient, putConnector, rawSession, textOf, waitAllActive } from './support';

jest.setTimeout(60_000);

/** Sees memory's read tools and everything's echo only. */
const CURATED_TOKEN = 'pb_test_curated_token_0123456789abcdef';
/** May use the `curated` virtual server and the memory connector, nothing else. */
const VIRTUAL_ONLY_TOKEN = 'pb_test_virtual_only_0123456789abcdef';

const names = (tools: { name: string }[]): string[] => tools.map((t) => t.name).sort();

describe('mcp-broker curation: virtual servers and token tool globs', () => {
  const tag = `pbmcpcur${randomSuffix()}`;
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  let registry: ServiceHandle;
  let broker: ServiceHandle;
  const clients: Client[] = [];

  const connect = async (path: string, token = TEST_ADMIN_TOKEN, client?: Client): Promise<Client> => {
    const connected = await mcpClient(broker.url, token, path, client);
    clients.push(connected);
    return connected;
  };
  const put = (configId: string, body: unknown): Promise<void> => putConnector(registry.url, configId, body);
  const stdio = (args: string[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    transport: 'stdio',
    command: 'node',
    args: [...args, tag],
    ...extra,
  });
  const memory = (file: string): Record<string, unknown> => stdio([MEMORY], { env: { MEMORY_FILE_PATH: `\${dataDir}/${file}` } });
  const callError = async (client: Client, name: string): Promise<McpError> => {
    const error = await client.callTool({ name, arguments: {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(error instanceof McpError)) throw new Error(`calling ${name} did not fail with an MCP error`);
    return error;
  };

  beforeAll(async () => {
    registry = await startService('config-registry', {
      env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await put('everything', { type: 'agent_tool', options: stdio([EVERYTHING, 'stdio']) });
    await put('memory', { type: 'agent_tool', options: memory('memory.jsonl') });
    await put('memory2', { type: 'agent_tool', options: memory('memory2.jsonl') });
    await put('curated', {
      type: 'agent_tool',
      options: { transport: 'virtual', select: ['everything__get-*', 'everything__echo', 'memory__*', 'memory2__read_graph'], stripPrefix: true },
    });
    await put('plain', { type: 'agent_tool', options: { transport: 'virtual', select: ['memory__*', '!memory__delete_*'] } });
    broker = await startService('mcp-broker', {
      env: {
        PATCHBAY_REGISTRY_URL: registry.url,
        PATCHBAY_REDIS_URL: testRedisUrl(),
        PATCHBAY_BUS_PREFIX: prefix,
        PATCHBAY_TOKENS: JSON.stringify([
          { name: 'curated', token: CURATED_TOKEN, scopes: ['use', 'read'], tools: ['memory__read_*', 'everything__echo'] },
          { name: 'virtual-only', token: VIRTUAL_ONLY_TOKEN, scopes: ['use', 'read'], connectors: ['curated', 'memory'] },
        ]),
      },
    });
    // Virtual servers are no connections: only the three real servers are listed.
    await waitAllActive(broker.url, 3);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await broker?.stop();
    await registry?.stop();
    await dropSchema(schema).catch(() => undefined);
  });

  it('serves a virtual server with its selection, prefixes stripped where names stay unique', async () => {
    const client = await connect('/mcp/curated');
    const tools = (await client.listTools()).tools;
    const served = names(tools);
    expect(served).toEqual(expect.arrayContaining(['echo', 'get-sum', 'get-env', 'create_entities', 'delete_entities', 'search_nodes']));
    // read_graph is on memory and memory2: both keep their prefix rather than one shadowing the other.
    expect(served).toEqual(expect.arrayContaining(['memory__read_graph', 'memory2__read_graph']));
    expect(served).not.toContain('read_graph');
    expect(served.some((n) => n.startsWith('everything__') || n === 'toggle-simulated-logging' || n === 'patchbay__servers')).toBe(false);
    expect(served.filter((n) => n.startsWith('memory2__'))).toEqual(['memory2__read_graph']);
    expect(tools.find((t) => t.name === 'get-sum')?.inputSchema).toMatchObject({ properties: { a: expect.anything(), b: expect.anything() } });

    expect(textOf(await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }))).toContain('5');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'through curated' } }))).toContain('through curated');
    // Arguments are checked against the upstream's schema before anything is sent.
    await expect(client.callTool({ name: 'get-sum', arguments: { a: 'two' } })).rejects.toThrow(/invalid arguments/);
    // Neither the prefixed name nor a tool outside the selection is callable here.
    expect((await callError(client, 'everything__get-sum')).message).toMatch(/unknown tool/);
    expect((await callError(client, 'toggle-simulated-logging')).message).toMatch(/unknown tool/);

    // Resources and prompts follow the same selection: memory's graph is in, everything's prompts are not.
    const resources = (await client.listResources()).resources;
    expect(resources.map((r) => r.name)).toEqual(['knowledge-graph']);
    expect((await client.readResource({ uri: resources[0]?.uri ?? '' })).contents.length).toBe(1);
    expect((await client.listPrompts()).prompts).toEqual([]);
  });

  it('keeps prefixes without stripPrefix and honours exclusions', async () => {
    const client = await connect('/mcp/plain');
    const served = names((await client.listTools()).tools);
    expect(served).toEqual([
      'memory__add_observations',
      'memory__create_entities',
      'memory__create_relations',
      'memory__open_nodes',
      'memory__read_graph',
      'memory__search_nodes',
    ]);
    expect((await callError(client, 'memory__delete_entities')).message).toMatch(/unknown tool/);
    const graph = await client.callTool({ name: 'memory__read_graph', arguments: {} });
    expect(graph.isError).not.toBe(true);
  });

  it('sends list_changed to a virtual server’s sessions when its selection changes', async () => {
    const changed: string[] = [];
    const client = await connect('/mcp/plain');
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed.push('tools'));
    await client.listTools();
    await put('plain', { type: 'agent_tool', options: { transport: 'virtual', select: ['memory__*', 'everything__echo'] } });
    await eventually(() => changed.length > 0, 20_000, 'tools/list_changed on the virtual server');
    const served = names((await client.listTools()).tools);
    expect(served).toContain('everything__echo');
    expect(served).toContain('memory__delete_entities');
  });

  it('hides tools outside a token’s tools globs on /mcp, REST and gRPC', async () => {
    const client = await connect('/mcp', CURATED_TOKEN);
    expect(names((await client.listTools()).tools)).toEqual(['everything__echo', 'memory__read_graph']);
    expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'allowed' } }))).toContain('allowed');
    // Hidden, not refused: the same answer as for a name nobody owns.
    for (const hidden of ['memory__create_entities', 'everything__get-sum', 'patchbay__servers']) {
      const error = await callError(client, hidden);
      expect(error.code).toBe(-32602);
      expect(error.message).toMatch(/unknown tool/);
    }

    const listed = await api<{ items: { name: string }[] }>(broker.url, 'GET', '/v1/tools', { token: CURATED_TOKEN });
    expect(names(listed.body.items)).toEqual(['everything__echo', 'memory__read_graph']);
    const refused = await api(broker.url, 'POST', '/v1/tools/memory__create_entities/call', { token: CURATED_TOKEN, body: { arguments: { entities: [] } } });
    expect(refused.status).toBe(404);
    expect(refused.body).toMatchObject({ code: 'NOT_FOUND' });
    const allowed = await api(broker.url, 'POST', '/v1/tools/memory__read_graph/call', { token: CURATED_TOKEN, body: {} });
    expect(allowed.status).toBe(200);

    const grpc = grpcCaller(broker.grpcAddress);
    try {
      const items = (await grpc.unary('ListTools', {}, CURATED_TOKEN)).items as { name: string }[];
      expect(names(items)).toEqual(['everything__echo', 'memory__read_graph']);
      await expect(grpc.unary('CallTool', { name: 'everything__get-sum', argumentsJson: '{"a":1,"b":2}' }, CURATED_TOKEN)).rejects.toThrow(
        /NOT_FOUND|unknown tool/,
      );
      const echoed = await grpc.unary('CallTool', { name: 'everything__echo', argumentsJson: '{"message":"grpc"}' }, CURATED_TOKEN);
      expect(String(echoed.resultJson)).toContain('grpc');
    } finally {
      grpc.close();
    }
  });

  it('applies token globs inside a virtual server too, by the tools’ qualified names', async () => {
    const client = await connect('/mcp/curated', CURATED_TOKEN);
    // memory2__read_graph is selected but outside the token's globs (memory__read_* does not match memory2__).
    expect(names((await client.listTools()).tools)).toEqual(['echo', 'memory__read_graph']);
    expect((await callError(client, 'get-sum')).message).toMatch(/unknown tool/);
  });

  it('needs the virtual server in a connector-limited token’s list, and the upstreams for their tools', async () => {
    const client = await connect('/mcp/curated', VIRTUAL_ONLY_TOKEN);
    const served = names((await client.listTools()).tools);
    expect(served).toContain('create_entities');
    expect(served.some((n) => ['echo', 'get-sum', 'memory2__read_graph'].includes(n))).toBe(false);
    const refused = await fetch(`${broker.url}/mcp/plain`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${VIRTUAL_ONLY_TOKEN}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ jsonrpc: '2.0', error: { message: expect.stringContaining("may not use connector 'plain'") } });
  });

  it('answers an unknown virtual server, and a session used on another endpoint, with JSON-RPC 404s', async () => {
    const unknown = await fetch(`${broker.url}/mcp/nosuch`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ jsonrpc: '2.0', error: { message: expect.stringContaining("virtual MCP server 'nosuch'") } });
    const session = await rawSession(broker.url, TEST_ADMIN_TOKEN);
    const elsewhere = await fetch(`${broker.url}/mcp/curated`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'mcp-session-id': session },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(elsewhere.status).toBe(404);
    await elsewhere.text();
  });

  it('is refused by the registry without select, and select without the virtual transport', async () => {
    const missing = await api(registry.url, 'PUT', '/v1/connectors/broken', { body: { type: 'agent_tool', options: { transport: 'virtual' } } });
    expect(missing.status).toBe(400);
    expect(missing.text).toContain('select');
    const misplaced = await api(registry.url, 'PUT', '/v1/connectors/broken', {
      body: { type: 'agent_tool', options: { transport: 'stdio', command: 'node', select: ['x__*'] } },
    });
    expect(misplaced.status).toBe(400);
    expect(misplaced.text).toContain("applies only to the 'virtual' transport");
  });
});
