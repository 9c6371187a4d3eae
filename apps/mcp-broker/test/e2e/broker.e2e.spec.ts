import { credentials, Metadata } from '@grpc/grpc-js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Channel, ConnectionState, EventType, type ConnectionStateData, type Envelope } from '@patchbay/core';
import { RedisBus } from '@patchbay/core/redis';
import { MCP_SERVICE, loadService } from '@patchbay/proto';
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
import { EVERYTHING, mcpClient, MEMORY, PROBE, processesTagged, putConnector, serverStatus, startEverythingHttp, textOf, waitAllActive } from './support';

jest.setTimeout(60_000);

const USE_TOKEN = 'pb_test_use_token_0123456789abcdef';
const READ_TOKEN = 'pb_test_read_token_0123456789abcdef';

describe('mcp-broker end to end', () => {
  const tag = `pbmcp${randomSuffix()}`;
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  let registry: ServiceHandle;
  let broker: ServiceHandle;
  let http: Awaited<ReturnType<typeof startEverythingHttp>>;
  let bus: RedisBus;
  const events: Envelope<ConnectionStateData>[] = [];
  const clients: Client[] = [];
  let brokerStopped = false;

  const connect = async (token?: string): Promise<Client> => {
    const client = await mcpClient(broker.url, token);
    clients.push(client);
    return client;
  };
  const put = (configId: string, body: unknown): Promise<void> => putConnector(registry.url, configId, body);
  const stdio = (args: string[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    transport: 'stdio',
    command: 'node',
    args: [...args, tag],
    ...extra,
  });

  beforeAll(async () => {
    bus = new RedisBus({ url: testRedisUrl(), prefix });
    await bus.subscribe(Channel.STATE, (envelope) => {
      if (envelope.type === EventType.CONNECTION_STATE) events.push(envelope as Envelope<ConnectionStateData>);
    });
    http = await startEverythingHttp(tag);
    registry = await startService('config-registry', {
      env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await put('everything', { type: 'agent_tool', options: stdio([EVERYTHING, 'stdio']) });
    await put('memory', { type: 'agent_tool', options: stdio([MEMORY], { env: { MEMORY_FILE_PATH: '${dataDir}/memory.jsonl' } }) });
    await put('remote', { type: 'agent_tool', url: http.url, options: { transport: 'streamable-http' } });
    // An array connector; `probe` goes through `sh -c` so the real server is a grandchild.
    await put('probes', {
      type: 'agent_tool',
      options: { transport: 'stdio' },
      members: [
        { id: 'probe', options: { command: 'sh', args: ['-c', `"${process.execPath}" "${PROBE}" ${tag}; exit $?`] } },
        { id: 'probe_short', options: { command: 'node', args: [PROBE, tag], timeoutMs: 1500 } },
        { id: 'counter', options: { command: 'node', args: [PROBE, tag], stateful: true } },
      ],
    });
    broker = await startService('mcp-broker', {
      env: {
        PATCHBAY_REGISTRY_URL: registry.url,
        PATCHBAY_REDIS_URL: testRedisUrl(),
        PATCHBAY_BUS_PREFIX: prefix,
        PATCHBAY_MCP_HEALTH_INTERVAL_MS: '500',
        PATCHBAY_MCP_HEALTH_TIMEOUT_MS: '3000',
        PATCHBAY_MCP_MAX_RETRIES: '2',
        PATCHBAY_MCP_RETRY_INITIAL_MS: '200',
        PATCHBAY_MCP_RETRY_MAX_MS: '1000',
        PATCHBAY_TOKENS: JSON.stringify([
          { name: 'agent', token: USE_TOKEN, scopes: ['use'] },
          { name: 'viewer', token: READ_TOKEN, scopes: ['read'] },
        ]),
      },
    });
    await waitAllActive(broker.url, 6);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    if (!brokerStopped) await broker?.stop();
    await registry?.stop();
    await http?.stop();
    await bus?.close();
    await dropSchema(schema).catch(() => undefined);
  });

  it('lists the tools of stdio and HTTP servers, namespaced, plus patchbay__servers', async () => {
    const client = await connect();
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining(['patchbay__servers', 'everything__echo', 'remote__echo', 'memory__create_entities', 'probe__wait', 'counter__increment']),
    );
    expect(names.every((n) => n.length <= 64)).toBe(true);

    const rest = await api<{ items: { name: string; server: string; upstreamName: string }[] }>(broker.url, 'GET', '/v1/tools');
    expect(rest.status).toBe(200);
    expect(rest.body.items).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'remote__echo', server: 'remote', upstreamName: 'echo', inputSchema: expect.any(Object) })]),
    );
  });

  it('routes calls with their arguments: everything__echo, remote__echo, memory', async () => {
    const client = await connect();
    expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'hello' } }))).toBe('Echo: hello');
    expect(textOf(await client.callTool({ name: 'remote__echo', arguments: { message: 'over http' } }))).toBe('Echo: over http');
    await client.callTool({
      name: 'memory__create_entities',
      arguments: { entities: [{ name: `e2e-${tag}`, entityType: 'test', observations: ['created through the broker'] }] },
    });
    const graph = textOf(await client.callTool({ name: 'memory__open_nodes', arguments: { names: [`e2e-${tag}`] } }));
    expect(graph).toContain('created through the broker');

    const servers = await client.callTool({ name: 'patchbay__servers', arguments: {} });
    expect(textOf(servers)).toContain('"id": "remote"');
  });

  it('aggregates prompts and resources, namespaced, and routes reads to their owner', async () => {
    const client = await connect();
    const { prompts } = await client.listPrompts();
    expect(prompts.length).toBeGreaterThan(0);
    // Both server-everything instances (stdio and HTTP) offer prompts; nothing else does.
    expect(new Set(prompts.map((p) => p.name.split('__')[0]))).toEqual(new Set(['everything', 'remote']));
    const simple = prompts.find((p) => p.name.startsWith('everything__') && !(p.arguments ?? []).some((a) => a.required));
    expect(simple).toBeDefined();
    const prompt = await client.getPrompt({ name: simple?.name ?? '' });
    expect(prompt.messages.length).toBeGreaterThan(0);

    const { resources } = await client.listResources();
    const owned = resources.find((r) => r.name.startsWith('everything__'));
    expect(owned).toBeDefined();
    const read = await client.readResource({ uri: owned?.uri ?? '' });
    expect(read.contents[0]?.uri).toBe(owned?.uri);
    await expect(client.readResource({ uri: 'nowhere://nothing' })).rejects.toMatchObject({ code: -32602 });
  });

  it('serves the same tools in stateless mode', async () => {
    const stateless = await startService('mcp-broker', {
      env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix, PATCHBAY_MCP_STATELESS: 'true' },
    });
    try {
      await eventually(
        async () => {
          const { body } = await api<{ items: { name: string }[] }>(stateless.url, 'GET', '/v1/tools');
          return body.items.some((t) => t.name === 'everything__echo');
        },
        45_000,
        'stateless broker ready',
      );
      const client = await mcpClient(stateless.url);
      try {
        expect((await client.listTools()).tools.map((t) => t.name)).toContain('everything__echo');
        expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'stateless' } }))).toBe('Echo: stateless');
        const progress: number[] = [];
        await client.callTool({ name: 'everything__trigger-long-running-operation', arguments: { duration: 0.4, steps: 2 } }, undefined, {
          onprogress: (p) => progress.push(p.progress),
        });
        expect(progress.length).toBeGreaterThan(0);
      } finally {
        await client.close();
      }
    } finally {
      expect((await stateless.stop()).code).toBe(0);
    }
  });

  it('forwards progress notifications of a long call', async () => {
    const client = await connect();
    const progress: { progress: number; total?: number }[] = [];
    const result = await client.callTool({ name: 'everything__trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, undefined, {
      onprogress: (p) => progress.push(p),
    });
    expect(textOf(result)).toContain('Long running operation completed');
    // The SDK client stops listening once the result is in, so the last step may race it
    // (the same happens when calling server-everything directly).
    expect(progress.slice(0, 2)).toEqual([
      { progress: 1, total: 3 },
      { progress: 2, total: 3 },
    ]);
  });

  it('applies the configured per-call timeout (probe_short: 1500 ms)', async () => {
    const client = await connect();
    const started = Date.now();
    const error = await client.callTool({ name: 'probe_short__wait', arguments: { ms: 30_000 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32001);
    expect(Date.now() - started).toBeLessThan(25_000);
    // Without the short setting the same call completes.
    expect(textOf(await client.callTool({ name: 'probe__wait', arguments: { ms: 2500 } }))).toBe('waited 2500 ms');
  });

  it('forwards cancellation to the upstream server', async () => {
    const client = await connect();
    const stats = async (): Promise<{ started: number; cancelled: number }> =>
      JSON.parse(textOf(await client.callTool({ name: 'probe__stats', arguments: {} }))) as { started: number; cancelled: number };
    const before = await stats();
    const controller = new AbortController();
    const call = client.callTool({ name: 'probe__wait', arguments: { ms: 60_000 } }, undefined, { signal: controller.signal });
    await eventually(async () => (await stats()).started > before.started, 15_000, 'upstream call started');
    controller.abort();
    await expect(call).rejects.toThrow();
    await eventually(async () => (await stats()).cancelled > before.cancelled, 15_000, 'upstream saw the cancellation');

    // A REST caller that hangs up cancels its upstream call too.
    const restBefore = await stats();
    const hangUp = new AbortController();
    const restCall = fetch(`${broker.url}/v1/tools/probe__wait/call`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ arguments: { ms: 60_000 } }),
      signal: hangUp.signal,
    });
    await eventually(async () => (await stats()).started > restBefore.started, 15_000, 'REST upstream call started');
    hangUp.abort();
    await expect(restCall).rejects.toThrow();
    await eventually(async () => (await stats()).cancelled > restBefore.cancelled, 15_000, 'upstream saw the REST cancellation');
  });

  it('binds each client session to its own upstream session for a stateful server', async () => {
    const [a, b] = [await connect(), await connect()];
    const inc = async (c: Client): Promise<string> => textOf(await c.callTool({ name: 'counter__increment', arguments: {} }));
    expect(await inc(a)).toBe('1');
    expect(await inc(a)).toBe('2');
    expect(await inc(b)).toBe('1');
  });

  it('answers bad input with JSON-RPC errors on /mcp and problem+json on REST', async () => {
    const client = await connect();
    const unknown = await client.callTool({ name: 'nope__nothing', arguments: {} }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ code: -32602, message: expect.stringContaining('unknown tool') });
    const invalid = await client.callTool({ name: 'everything__echo', arguments: { message: 42 } }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: -32602, message: expect.stringContaining('message must be string') });

    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const malformed = await api(broker.url, 'POST', '/mcp', { raw: '{"jsonrpc": "2.0", "id": 1, "method"', headers });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
    const noSession = await api(broker.url, 'POST', '/mcp', { body: { jsonrpc: '2.0', id: 1, method: 'tools/list' }, headers });
    expect(noSession.status).toBe(400);
    expect(noSession.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 } });
    const staleSession = await api(broker.url, 'POST', '/mcp', {
      body: { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      headers: { ...headers, 'mcp-session-id': 'no-such-session' },
    });
    expect(staleSession.status).toBe(404);
    const noToken = await api(broker.url, 'POST', '/mcp', { body: { jsonrpc: '2.0', id: 1, method: 'tools/list' }, headers, token: null });
    expect(noToken.status).toBe(401);
    expect(noToken.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 } });
    const readOnly = await api(broker.url, 'POST', '/mcp', { body: { jsonrpc: '2.0', id: 1, method: 'tools/list' }, headers, token: READ_TOKEN });
    expect(readOnly.status).toBe(403);

    const restInvalid = await api(broker.url, 'POST', '/v1/tools/everything__echo/call', { body: { arguments: { message: 42 } } });
    expect(restInvalid.status).toBe(400);
    expect(restInvalid.headers.get('content-type')).toContain('application/problem+json');
    expect(restInvalid.body).toMatchObject({ code: 'VALIDATION' });
    const restUnknownField = await api(broker.url, 'POST', '/v1/tools/everything__echo/call', { body: { args: {} } });
    expect(restUnknownField.status).toBe(400);
    const restUnknown = await api(broker.url, 'POST', '/v1/tools/nope__nothing/call', { body: { arguments: {} } });
    expect(restUnknown.status).toBe(404);
    const restMalformed = await api(broker.url, 'POST', '/v1/tools/everything__echo/call', {
      raw: '{"arguments": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(restMalformed.status).toBe(400);
    expect(restMalformed.body).toMatchObject({ code: 'VALIDATION' });
  });

  it('serves REST and gRPC with scopes: use calls, read reads, admin restarts', async () => {
    const call = await api(broker.url, 'POST', '/v1/tools/everything__echo/call', { body: { arguments: { message: 'rest' } }, token: USE_TOKEN });
    expect(call.status).toBe(200);
    expect(textOf(call.body)).toBe('Echo: rest');
    expect((await api(broker.url, 'GET', '/v1/servers', { token: USE_TOKEN })).status).toBe(403);
    expect((await api(broker.url, 'GET', '/v1/servers', { token: READ_TOKEN })).status).toBe(200);
    expect((await api(broker.url, 'POST', '/v1/tools/everything__echo/call', { body: {}, token: READ_TOKEN })).status).toBe(403);
    expect((await api(broker.url, 'POST', '/v1/servers/memory/restart', { token: READ_TOKEN })).status).toBe(403);
    expect((await api(broker.url, 'GET', '/v1/servers/nope', { token: READ_TOKEN })).status).toBe(404);

    const metrics = await api(broker.url, 'GET', '/metrics', { token: null });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('mcp_tool_calls');
    expect(metrics.text).toMatch(/mcp_server_state\{[^}]*server="everything"[^}]*state="active"[^}]*\} 1/);

    const { Client: GrpcClient } = loadService('mcp', MCP_SERVICE);
    const grpc = new GrpcClient(broker.grpcAddress, credentials.createInsecure()) as unknown as Record<
      string,
      (req: unknown, md: Metadata, cb: (err: Error | null, res: Record<string, unknown>) => void) => void
    >;
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
    const unary = (method: string, request: unknown): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => grpc[method]?.(request, metadata, (err, res) => (err ? reject(err) : resolve(res))));
    const servers = await unary('ListServers', {});
    expect((servers.items as { id: string }[]).map((s) => s.id)).toEqual(expect.arrayContaining(['everything', 'remote', 'memory']));
    const result = await unary('CallTool', { name: 'everything__echo', argumentsJson: JSON.stringify({ message: 'grpc' }) });
    expect(textOf(JSON.parse(result.resultJson as string))).toBe('Echo: grpc');
    await expect(unary('CallTool', { name: 'nope', argumentsJson: '{}' })).rejects.toMatchObject({ code: 5 });
    (grpc as unknown as { close(): void }).close();
  });

  it('restarts a killed stdio server: retrying -> active, and calls work again', async () => {
    const client = await connect();
    const before = await serverStatus(broker.url, 'everything');
    const pid = before.pids[0];
    expect(pid).toBeDefined();
    process.kill(pid as number, 'SIGKILL');
    await eventually(
      () => events.some((e) => e.data.name === 'everything' && e.data.from === ConnectionState.ACTIVE && e.data.to === ConnectionState.RETRYING),
      15_000,
      'retrying published on the bus',
    );
    const after = await eventually(
      async () => {
        const s = await serverStatus(broker.url, 'everything');
        return s.state === 'active' && s.pids.length === 1 && s.pids[0] !== pid ? s : undefined;
      },
      30_000,
      'everything active again',
    );
    expect(after.restarts).toBeGreaterThan(before.restarts);
    expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'back' } }))).toBe('Echo: back');
  });

  it('marks a stopped HTTP server dead, drops its tools, keeps the others, notifies clients; restart revives it', async () => {
    const client = await connect();
    let listChanged = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      listChanged++;
    });
    // The standalone SSE stream that carries notifications opens right after initialize.
    await eventually(async () => (await client.listTools()).tools.some((t) => t.name === 'remote__echo'), 10_000, 'remote tools listed');
    await http.stop();
    await eventually(async () => (await serverStatus(broker.url, 'remote')).state === 'dead', 40_000, 'remote dead');
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names.some((n) => n.startsWith('remote__'))).toBe(false);
    expect(names).toContain('everything__echo');
    expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'still here' } }))).toBe('Echo: still here');
    await eventually(() => listChanged > 0, 10_000, 'tools/list_changed notification');
    const dead = await serverStatus(broker.url, 'remote');
    expect(dead.lastError).toBeTruthy();
    expect(events.some((e) => e.data.name === 'remote' && e.data.to === ConnectionState.DEAD)).toBe(true);
    // Its tools are gone from the lists, but a call says why instead of "unknown tool".
    const restCall = await api(broker.url, 'POST', '/v1/tools/remote__echo/call', { body: { arguments: { message: 'x' } } });
    expect(restCall.status).toBe(503);
    expect(restCall.headers.get('retry-after')).toBeTruthy();
    expect(restCall.body).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', detail: expect.stringContaining("MCP server 'remote' is dead") });
    const mcpCall = await client.callTool({ name: 'remote__echo', arguments: { message: 'x' } }).catch((e: unknown) => e);
    expect(mcpCall).toBeInstanceOf(McpError);
    expect((mcpCall as McpError).message).toContain('is dead');
    expect((mcpCall as McpError).data).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', server: 'remote', state: 'dead', retryAfterSeconds: 30 });
    expect((await api(broker.url, 'POST', '/v1/tools/nope__echo/call', { body: { arguments: {} } })).status).toBe(404);

    // Back on the same address: an admin restart revives the dead server.
    http = await startEverythingHttp(tag, http.port);
    const restarted = await api(broker.url, 'POST', '/v1/servers/remote/restart');
    expect(restarted.status).toBe(202);
    await eventually(async () => (await serverStatus(broker.url, 'remote')).state === 'active', 30_000, 'remote active again');
    expect(textOf(await client.callTool({ name: 'remote__echo', arguments: { message: 'revived' } }))).toBe('Echo: revived');
  }, 120_000);

  it('applies connector changes live: added servers connect, removed ones close their processes', async () => {
    const client = await connect();
    const memberTag = `${tag}added`;
    await put('extra', { type: 'agent_tool', options: { transport: 'stdio', command: 'node', args: [PROBE, memberTag] } });
    await eventually(async () => (await client.listTools()).tools.some((t) => t.name === 'extra__stats'), 30_000, 'extra tools listed');
    expect(processesTagged(memberTag)).toHaveLength(1);
    expect(textOf(await client.callTool({ name: 'extra__increment', arguments: {} }))).toBe('1');

    expect((await api(registry.url, 'DELETE', '/v1/connectors/extra')).status).toBe(200);
    await eventually(async () => !(await client.listTools()).tools.some((t) => t.name.startsWith('extra__')), 30_000, 'extra tools gone');
    await eventually(() => processesTagged(memberTag).length === 0, 10_000, 'extra process gone');
    expect((await api(broker.url, 'GET', '/v1/servers/extra')).status).toBe(404);
  });

  it('leaves no child process behind when the broker stops', async () => {
    // The HTTP server is this test's own process, not the broker's.
    const brokerChildren = (): string[] => processesTagged(tag).filter((line) => !line.includes('streamableHttp'));
    expect(brokerChildren().length).toBeGreaterThanOrEqual(5);
    const result = await broker.stop('SIGTERM');
    brokerStopped = true;
    expect(result.code).toBe(0);
    await eventually(() => brokerChildren().length === 0, 10_000, 'no process of the broker left');
  });
});
