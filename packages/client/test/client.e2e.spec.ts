import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { TEST_ADMIN_TOKEN, api, eventually, freePort } from '@patchbay/testkit';
import { ConnectorClient, getApiParameters, openAiSettings, watchChanges, type ConnectorChange, type WatchStatus } from '../src';
import { READER_TOKEN, USER_TOKEN, startRegistry, type Registry } from './support';

const MEMORY_SERVER = join(__dirname, '..', '..', '..', 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');

let registry: Registry;

beforeAll(async () => {
  registry = await startRegistry();
  const put = (id: string, body: unknown) => api(registry.url, 'PUT', `/v1/connectors/${id}`, { body });
  await put('LLM', { type: 'llm', url: 'https://llm.example.com/v1', credentials: { apiKey: 'sk-upstream-1' }, options: { models: ['m1'] } });
  await put('DATABASE', { type: 'database', url: 'postgres://db.example.com:5432/app', credentials: { username: 'app', password: 's3cr3t/+' } });
  await put('agentTools', {
    type: 'agent_tool',
    members: [
      {
        id: 'memory',
        transport: 'stdio',
        options: { command: process.execPath, args: [MEMORY_SERVER], env: { MEMORY_FILE_PATH: '/tmp/pb-client-memory.jsonl' } },
      },
      { id: 'remote', url: 'https://tools.example.com/mcp', transport: 'streamable-http', options: { headers: { 'x-api-key': 'tool-key' } } },
    ],
  });
  await put('curated', { type: 'agent_tool', options: { transport: 'virtual', select: ['memory__read_*'] } });
}, 90_000);

afterAll(async () => {
  await registry?.stop();
});

function client(token = TEST_ADMIN_TOKEN, env: Record<string, string> = {}): ConnectorClient {
  return new ConnectorClient({ env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_TOKEN: token, ...env } });
}

describe('getApiParameters from the environment', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('resolves with one argument in stack mode, with PATCHBAY_REGISTRY_URL and PATCHBAY_TOKEN', async () => {
    process.env.PATCHBAY_MODE = 'stack';
    process.env.PATCHBAY_REGISTRY_URL = registry.url;
    process.env.PATCHBAY_TOKEN = TEST_ADMIN_TOKEN;
    expect(await getApiParameters('LLM')).toEqual({
      url: 'https://llm.example.com/v1',
      headers: { Authorization: 'Bearer sk-upstream-1' },
      apiKey: 'sk-upstream-1',
    });
    await expect(getApiParameters('NOPE')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('prefers {CONFIG_ID}_URL in local mode and asks the registry only without it', async () => {
    process.env.PATCHBAY_MODE = 'local';
    process.env.PATCHBAY_REGISTRY_URL = registry.url;
    process.env.PATCHBAY_TOKEN = TEST_ADMIN_TOKEN;
    process.env.LLM_URL = 'http://localhost:8000/v1';
    expect((await getApiParameters('LLM')).url).toBe('http://localhost:8000/v1');
    delete process.env.LLM_URL;
    expect((await getApiParameters('LLM')).url).toBe('https://llm.example.com/v1');
  });

  it('names the problem when the registry is unreachable or the token is wrong', async () => {
    const port = await freePort();
    await expect(
      getApiParameters('LLM', { mode: 'stack', env: { PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${port}`, PATCHBAY_TOKEN: 'x' } }),
    ).rejects.toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      message: `registry unreachable at http://127.0.0.1:${port}`,
    });
    await expect(getApiParameters('LLM', { mode: 'stack', env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_TOKEN: 'wrong-token' } })).rejects.toMatchObject(
      {
        code: 'UNAUTHORIZED',
      },
    );
    await expect(getApiParameters('LLM', { env: { PATCHBAY_REGISTRY_URL: 'ftp://x' } })).rejects.toThrow('PATCHBAY_REGISTRY_URL must be an http(s) URL');
  });
});

describe('ConnectorClient', () => {
  it('fetches a database URL with the credentials merged in (resolve scope) and without them (read scope)', async () => {
    const admin = client();
    expect(await admin.fetchDatabaseUrl()).toBe('postgres://app:s3cr3t%2F%2B@db.example.com:5432/app');
    const reader = client(READER_TOKEN);
    expect(await reader.fetchDatabaseUrl('DATABASE')).toBe('postgres://db.example.com:5432/app');
    await expect(client(USER_TOKEN).fetchDatabaseUrl()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(new ConnectorClient({ env: { PATCHBAY_REGISTRY_URL: registry.url } }).fetchDatabaseUrl()).rejects.toThrow(/set PATCHBAY_TOKEN/);
    await Promise.all([admin.close(), reader.close()]);
  });

  it('fetches the LLM url and builds OpenAI-compatible settings for the proxy and the upstream', async () => {
    const c = client(TEST_ADMIN_TOKEN, { PATCHBAY_LLM_PROXY_URL: 'http://proxy.internal:7300' });
    expect(await c.fetchLlmUrl()).toMatchObject({ url: 'https://llm.example.com/v1', apiKey: 'sk-upstream-1' });
    expect(await openAiSettings(c)).toEqual({ baseURL: 'http://proxy.internal:7300/v1', apiKey: TEST_ADMIN_TOKEN });
    expect(await openAiSettings(c, { via: 'direct' })).toEqual({ baseURL: 'https://llm.example.com/v1', apiKey: 'sk-upstream-1' });
    await c.close();
  });

  it('gives MCP transport settings per agent_tool member, and the stdio ones start the real server', async () => {
    const c = client(TEST_ADMIN_TOKEN, { PATCHBAY_MCP_BROKER_URL: 'http://127.0.0.1:7400' });
    const servers = await c.fetchMcpServers();
    expect(servers.remote).toEqual({ transport: 'streamable-http', url: 'https://tools.example.com/mcp', headers: { 'x-api-key': 'tool-key' } });
    expect(servers.memory).toMatchObject({ transport: 'stdio', command: process.execPath, args: [MEMORY_SERVER] });
    expect(await c.fetchMcpServers('agentTools', { via: 'broker' })).toEqual({
      patchbay: { transport: 'streamable-http', url: 'http://127.0.0.1:7400/mcp', headers: { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` } },
    });
    // A virtual server exists only on the broker, whichever way the caller asked.
    expect(await c.fetchMcpServers('curated')).toEqual({
      patchbay: { transport: 'streamable-http', url: 'http://127.0.0.1:7400/mcp/curated', headers: { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` } },
    });
    await expect(c.fetchMcpServers('LLM')).rejects.toThrow("connector 'LLM' is a llm connector, not agent_tool");

    const memory = servers.memory;
    if (memory?.transport !== 'stdio') throw new Error('expected stdio');
    const mcp = new Client({ name: 'client-e2e', version: '1.0.0' });
    await mcp.connect(new StdioClientTransport({ command: memory.command, args: memory.args, env: { ...memory.env, PATH: process.env.PATH ?? '' } }));
    const tools = await mcp.listTools();
    expect(tools.tools.map((t) => t.name)).toContain('read_graph');
    await mcp.close();
    await c.close();
  });
});

describe('watch', () => {
  it('streams changes over SSE and resumes after the last one seen', async () => {
    const c = client();
    const controller = new AbortController();
    const statuses: WatchStatus[] = [];
    const seen: ConnectorChange[] = [];
    const watching = (async () => {
      for await (const change of c.watch({ signal: controller.signal, onStatus: (s) => statuses.push(s) })) {
        seen.push(change);
        if (seen.length === 2) controller.abort();
      }
    })();
    await eventually(() => statuses.some((s) => s.transport === 'sse' && s.state === 'open'), 20_000, 'stream open');
    await api(registry.url, 'PUT', '/v1/connectors/W1', { body: { type: 'api', url: 'https://a.example.com' } });
    await api(registry.url, 'DELETE', '/v1/connectors/W1');
    await watching;
    expect(seen.map((s) => [s.configId, s.action])).toEqual([
      ['W1', 'upsert'],
      ['W1', 'delete'],
    ]);

    // Changes made while nobody watched arrive on the next watch, from the cursor on.
    const cursor = seen[1]!.revision;
    await api(registry.url, 'PUT', '/v1/connectors/W2', { body: { type: 'api', url: 'https://b.example.com' } });
    await api(registry.url, 'PUT', '/v1/connectors/W3', { body: { type: 'api', url: 'https://c.example.com' } });
    const resumed: string[] = [];
    const again = new AbortController();
    for await (const change of watchChanges(c.registry, { since: cursor, signal: again.signal })) {
      resumed.push(change.configId);
      if (resumed.length === 2) again.abort();
    }
    expect(resumed).toEqual(['W2', 'W3']);
    await c.close();
  });

  it('falls back to polling /v1/changes when the stream is not served (a proxy that drops it)', async () => {
    // A real HTTP proxy in front of the registry that answers /v1/watch with 404.
    const target = new URL(registry.url);
    const proxy: Server = createServer((req, res) => {
      if (req.url?.startsWith('/v1/watch')) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
        return;
      }
      const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    const port = await freePort();
    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    const c = new ConnectorClient({ env: { PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${port}`, PATCHBAY_TOKEN: TEST_ADMIN_TOKEN } });
    const controller = new AbortController();
    const statuses: WatchStatus[] = [];
    const seen: string[] = [];
    const watching = (async () => {
      for await (const change of c.watch({ signal: controller.signal, pollIntervalMs: 100, onStatus: (s) => statuses.push(s) })) {
        seen.push(change.configId);
        controller.abort();
      }
    })();
    await eventually(() => statuses.some((s) => s.transport === 'poll'), 20_000, 'fallback to polling');
    await api(registry.url, 'PUT', '/v1/connectors/POLLED', { body: { type: 'api', url: 'https://p.example.com' } });
    await watching;
    expect(seen).toEqual(['POLLED']);
    expect(statuses.find((s) => s.state === 'reconnecting')?.error).toBe('NOT_FOUND');
    await c.close();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  });

  it('refuses a token that may not watch instead of retrying forever', async () => {
    const c = client(USER_TOKEN);
    await expect(c.watch({ since: 0 }).next()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await c.close();
  });

  it('follows one connector: the current resolution updates on change and delete', async () => {
    await api(registry.url, 'PUT', '/v1/connectors/FOLLOWED', { body: { type: 'api', url: 'https://v1.example.com' } });
    const c = client();
    const followed = await c.follow('FOLLOWED');
    expect(followed.current?.url).toBe('https://v1.example.com');
    await api(registry.url, 'PUT', '/v1/connectors/FOLLOWED', { body: { type: 'api', url: 'https://v2.example.com' } });
    await eventually(() => followed.current?.url === 'https://v2.example.com', 20_000, 'followed change');
    await api(registry.url, 'DELETE', '/v1/connectors/FOLLOWED');
    await eventually(() => followed.current === undefined, 20_000, 'followed delete');
    followed.close();
    await c.close();
  });
});
