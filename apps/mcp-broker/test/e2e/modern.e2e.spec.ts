import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
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
import { EVERYTHING, MCP_HEADERS, MEMORY, mcpClient, putConnector, startEverythingHttp, textOf, waitAllActive } from './support';

jest.setTimeout(60_000);

const CURATED_TOKEN = 'pb_test_modern_curated_0123456789abcdef';
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };

/** The v2 SDK client pinned to 2026-07-28 (no initialize, no session). */
async function modernClient(url: string, token = TEST_ADMIN_TOKEN, prepare?: (client: ModernClient) => void): Promise<ModernClient> {
  const capabilities = prepare ? { sampling: {}, elicitation: {} } : {};
  const client = new ModernClient({ name: 'modern-e2e', version: '1.0.0' }, { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  prepare?.(client);
  await client.connect(new ModernTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

describe('mcp-broker speaks MCP 2026-07-28 beside the 2025 revisions', () => {
  const tag = `pbmcpmod${randomSuffix()}`;
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  let registry: ServiceHandle;
  let broker: ServiceHandle;
  let http: Awaited<ReturnType<typeof startEverythingHttp>>;
  const closers: (() => Promise<void>)[] = [];

  const raw = (body: unknown, headers: Record<string, string>): Promise<Response> =>
    fetch(`${broker.url}/mcp`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...headers },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    http = await startEverythingHttp(tag);
    registry = await startService('config-registry', {
      env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await putConnector(registry.url, 'everything', { type: 'agent_tool', options: { transport: 'stdio', command: 'node', args: [EVERYTHING, 'stdio', tag] } });
    await putConnector(registry.url, 'memory', {
      type: 'agent_tool',
      options: { transport: 'stdio', command: 'node', args: [MEMORY, tag], env: { MEMORY_FILE_PATH: '${dataDir}/m.jsonl' } },
    });
    await putConnector(registry.url, 'remote', { type: 'agent_tool', url: http.url, options: { transport: 'streamable-http' } });
    await putConnector(registry.url, 'curated', {
      type: 'agent_tool',
      options: { transport: 'virtual', select: ['everything__get-*', 'memory__read_graph'], stripPrefix: true },
    });
    broker = await startService('mcp-broker', {
      env: {
        PATCHBAY_REGISTRY_URL: registry.url,
        PATCHBAY_REDIS_URL: testRedisUrl(),
        PATCHBAY_BUS_PREFIX: prefix,
        PATCHBAY_TOKENS: JSON.stringify([{ name: 'curated', token: CURATED_TOKEN, scopes: ['use'], tools: ['remote__echo', 'memory__*'] }]),
      },
    });
    await waitAllActive(broker.url, 3);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(closers.map((c) => c().catch(() => undefined)));
    await broker?.stop();
    await registry?.stop();
    await http?.stop();
    await dropSchema(schema).catch(() => undefined);
  });

  it('serves the v2 client pinned to 2026-07-28 on /mcp: discover, list with cache hints, calls over stdio and HTTP', async () => {
    const client = await modernClient(`${broker.url}/mcp`);
    closers.push(() => client.close());
    const tools = await client.listTools();
    const names = tools.tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['patchbay__servers', 'everything__echo', 'remote__echo', 'memory__read_graph']));
    expect(textOf(await client.callTool({ name: 'everything__get-sum', arguments: { a: 20, b: 22 } }))).toContain('42');
    expect(textOf(await client.callTool({ name: 'remote__echo', arguments: { message: 'over http' } }))).toContain('over http');
    const prompts = await client.listPrompts();
    expect(prompts.prompts.map((p) => p.name)).toContain('everything__simple-prompt');
    const resources = await client.listResources();
    expect(resources.resources.length).toBeGreaterThan(0);
  });

  it('serves a virtual server to the v2 client, and a token’s tools globs hold there too', async () => {
    const client = await modernClient(`${broker.url}/mcp/curated`);
    closers.push(() => client.close());
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('get-sum');
    expect(names).toContain('read_graph');
    expect(names).not.toContain('echo');
    const curated = await modernClient(`${broker.url}/mcp`, CURATED_TOKEN);
    closers.push(() => curated.close());
    expect((await curated.listTools()).tools.map((t) => t.name).sort()).toEqual(expect.arrayContaining(['memory__read_graph', 'remote__echo']));
    expect((await curated.listTools()).tools.some((t) => t.name.startsWith('everything__'))).toBe(false);
    await expect(curated.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } })).rejects.toThrow(/unknown tool/);
  });

  it('expresses what 2025 upstreams ask (sampling, elicitation) as input_required rounds the v2 client fulfils', async () => {
    const asked: string[] = [];
    const client = await modernClient(`${broker.url}/mcp`, TEST_ADMIN_TOKEN, (c) => {
      c.setRequestHandler('sampling/createMessage', (request) => {
        asked.push(`sampling:${JSON.stringify(request.params.messages)}`);
        return { model: 'mrtr-model', role: 'assistant', content: { type: 'text', text: 'sampled across rounds' } };
      });
      c.setRequestHandler('elicitation/create', (request) => {
        asked.push(`elicitation:${request.params.message}`);
        return { action: 'accept', content: { name: 'Grace Hopper' } };
      });
    });
    closers.push(() => client.close());
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['everything__trigger-sampling-request', 'remote__trigger-elicitation-request']));
    const sampled = await client.callTool({ name: 'everything__trigger-sampling-request', arguments: { prompt: 'two rounds', maxTokens: 10 } });
    expect(textOf(sampled)).toContain('sampled across rounds');
    const elicited = await client.callTool({ name: 'remote__trigger-elicitation-request', arguments: {} });
    expect(JSON.stringify(elicited)).toContain('Grace Hopper');
    expect(asked).toEqual([expect.stringContaining('two rounds'), 'elicitation:Please provide inputs for the following fields:']);
    // On the wire: the first answer is input_required, the retry with its answers completes.
    const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'everything__trigger-sampling-request' };
    const params = { name: 'everything__trigger-sampling-request', arguments: { prompt: 'on the wire' } };
    const meta = { ...META, 'io.modelcontextprotocol/clientCapabilities': { sampling: {} } };
    const first = (await (await raw({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { ...params, _meta: meta } }, headers)).json()) as {
      result: { resultType: string; requestState: string; inputRequests: Record<string, { method: string }> };
    };
    expect(first.result.resultType).toBe('input_required');
    const [key, input] = Object.entries(first.result.inputRequests)[0] ?? [];
    expect(input?.method).toBe('sampling/createMessage');
    const inputResponses = { [key ?? '']: { model: 'm', role: 'assistant', content: { type: 'text', text: 'answered by hand' } } };
    const second = await raw(
      { jsonrpc: '2.0', id: 11, method: 'tools/call', params: { ...params, inputResponses, requestState: first.result.requestState, _meta: meta } },
      headers,
    );
    const done = (await second.json()) as { id: number; result: { resultType: string } };
    expect(done).toMatchObject({ id: 11, result: { resultType: 'complete' } });
    expect(JSON.stringify(done)).toContain('answered by hand');
    // A retry with a state this broker never issued is refused, not guessed at.
    const bogus = await raw(
      {
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'everything__echo', arguments: { message: 'x' }, requestState: 'nosuch', inputResponses: {}, _meta: META },
      },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'everything__echo' },
    );
    expect(await bogus.json()).toMatchObject({ error: { code: -32602, message: expect.stringContaining('requestState') } });
  });

  it('answers server/discover and stamps resultType and cache hints on the wire', async () => {
    const discover = await raw(
      { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
    );
    expect(discover.status).toBe(200);
    expect(discover.headers.get('mcp-session-id')).toBeNull();
    const body = (await discover.json()) as { result: Record<string, unknown> };
    expect(body.result).toMatchObject({
      resultType: 'complete',
      supportedVersions: ['2026-07-28'],
      serverInfo: { name: 'patchbay-mcp-broker' },
      cacheScope: 'private',
    });
    const list = await raw(
      { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: META } },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
    );
    expect(((await list.json()) as { result: Record<string, unknown> }).result).toMatchObject({ resultType: 'complete', ttlMs: 30_000, cacheScope: 'private' });
    // 2025 clients are unaffected: initialize still opens a session on the same endpoint.
    const legacy = await mcpClient(broker.url);
    closers.push(() => legacy.close());
    expect(legacy.getServerVersion()?.name).toBe('patchbay-mcp-broker');
    expect((await legacy.listTools()).tools.length).toBeGreaterThan(3);
  });

  it('keeps concurrent 2026-07-28 callers apart: each sees and calls only what its token and endpoint allow', async () => {
    const admin = await modernClient(`${broker.url}/mcp`);
    const curated = await modernClient(`${broker.url}/mcp`, CURATED_TOKEN);
    const virtual = await modernClient(`${broker.url}/mcp/curated`);
    closers.push(
      () => admin.close(),
      () => curated.close(),
      () => virtual.close(),
    );
    const rounds = Array.from({ length: 8 }, (_, i) =>
      Promise.all([
        admin.listTools(),
        curated.listTools(),
        virtual.listTools(),
        admin.callTool({ name: 'everything__echo', arguments: { message: `admin ${i}` } }),
        curated.callTool({ name: 'remote__echo', arguments: { message: `curated ${i}` } }),
        curated.callTool({ name: 'everything__echo', arguments: { message: `leak ${i}` } }).then(
          () => 'answered',
          (error: unknown) => String(error),
        ),
        virtual.callTool({ name: 'get-sum', arguments: { a: i, b: 100 } }),
      ]),
    );
    for (const [i, [adminTools, curatedTools, virtualTools, adminEcho, curatedEcho, leak, sum]] of (await Promise.all(rounds)).entries()) {
      expect(adminTools.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['patchbay__servers', 'everything__echo', 'remote__echo']));
      const curatedNames = curatedTools.tools.map((t) => t.name);
      expect(curatedNames).toEqual(expect.arrayContaining(['remote__echo', 'memory__read_graph']));
      expect(curatedNames.filter((n) => n !== 'remote__echo' && !n.startsWith('memory__'))).toEqual([]);
      expect(virtualTools.tools.map((t) => t.name).sort()).toEqual(expect.arrayContaining(['get-sum', 'read_graph']));
      expect(virtualTools.tools.filter((t) => !t.name.startsWith('get-') && t.name !== 'read_graph')).toEqual([]);
      expect(textOf(adminEcho)).toBe(`Echo: admin ${i}`);
      expect(textOf(curatedEcho)).toBe(`Echo: curated ${i}`);
      expect(leak).toMatch(/unknown tool/);
      expect(textOf(sum)).toContain(String(i + 100));
    }
  });

  it('streams progress of a 2026-07-28 call as SSE before its stamped result, and answers bad params with -32602', async () => {
    const tool = 'everything__trigger-long-running-operation';
    const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': tool };
    const answer = await raw(
      {
        jsonrpc: '2.0',
        id: 21,
        method: 'tools/call',
        params: { name: tool, arguments: { duration: 0.2, steps: 2 }, _meta: { ...META, progressToken: 'p21' } },
      },
      headers,
    );
    expect(answer.headers.get('content-type')).toContain('text/event-stream');
    const events = (await answer.text())
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as { method?: string; id?: number; params?: { progressToken?: string }; result?: Record<string, unknown> });
    expect(events.filter((e) => e.method === 'notifications/progress').map((e) => e.params?.progressToken)).toEqual(['p21', 'p21']);
    expect(events.at(-1)).toMatchObject({ id: 21, result: { resultType: 'complete', content: [expect.objectContaining({ type: 'text' })] } });
    // A client that reads JSON only gets the result alone.
    const json = await raw(
      {
        jsonrpc: '2.0',
        id: 22,
        method: 'tools/call',
        params: { name: tool, arguments: { duration: 0.1, steps: 1 }, _meta: { ...META, progressToken: 'p22' } },
      },
      { ...headers, accept: 'application/json' },
    );
    expect(await json.json()).toMatchObject({ id: 22, result: { resultType: 'complete' } });

    const unnamed = await raw(
      { jsonrpc: '2.0', id: 23, method: 'prompts/get', params: { name: 'everything__simple-prompt', arguments: { n: 1 }, _meta: META } },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'prompts/get', 'mcp-name': 'everything__simple-prompt' },
    );
    expect(await unnamed.json()).toMatchObject({ id: 23, error: { code: -32602, message: expect.stringContaining('string values') } });
    const unknownPrompt = await raw(
      { jsonrpc: '2.0', id: 24, method: 'prompts/get', params: { name: 'nosuch__prompt', _meta: META } },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'prompts/get', 'mcp-name': 'nosuch__prompt' },
    );
    expect(await unknownPrompt.json()).toMatchObject({ id: 24, error: { code: -32602, message: "unknown prompt 'nosuch__prompt'" } });
  });

  it('refuses header/body mismatches and unsupported versions with 400 and the revision’s error codes', async () => {
    const call = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'everything__echo', arguments: { message: 'x' }, _meta: META } };
    const cases: [Record<string, string>, number, string][] = [
      [{ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list', 'mcp-name': 'everything__echo' }, -32020, 'Mcp-Method'],
      [{ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'everything__get-sum' }, -32020, 'Mcp-Name'],
      [{ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' }, -32020, 'Mcp-Name header is required'],
      [{ 'mcp-protocol-version': '2025-11-25', 'mcp-method': 'tools/call', 'mcp-name': 'everything__echo' }, -32020, 'MCP-Protocol-Version'],
      [{ 'mcp-method': 'tools/call', 'mcp-name': 'everything__echo' }, -32020, 'MCP-Protocol-Version header is required'],
    ];
    for (const [headers, code, mentions] of cases) {
      const answer = await raw(call, headers);
      expect({ headers, status: answer.status }).toEqual({ headers, status: 400 });
      expect(await answer.json()).toMatchObject({ jsonrpc: '2.0', id: 3, error: { code, message: expect.stringContaining(mentions) } });
    }
    // The base64 sentinel form of Mcp-Name is decoded before the comparison.
    const encoded = await raw(call, {
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': `=?base64?${Buffer.from('everything__echo').toString('base64')}?=`,
    });
    expect(encoded.status).toBe(200);
    expect(JSON.stringify(await encoded.json())).toContain('"resultType":"complete"');

    const future = await raw({ ...call, params: { ...call.params, _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } }, {});
    expect(future.status).toBe(400);
    expect(await future.json()).toMatchObject({ error: { code: -32022, data: { supported: ['2026-07-28'] } } });
    const removed = await raw(
      { jsonrpc: '2.0', id: 4, method: 'logging/setLevel', params: { level: 'info', _meta: META } },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'logging/setLevel' },
    );
    expect(await removed.json()).toMatchObject({ error: { code: -32601 } });
  });
});
