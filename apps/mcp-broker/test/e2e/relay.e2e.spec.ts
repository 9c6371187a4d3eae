import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  type CreateMessageRequest,
  type LoggingMessageNotification,
} from '@modelcontextprotocol/sdk/types.js';
import {
  dropSchema,
  eventually,
  randomSuffix,
  startService,
  testDatabaseUrl,
  testRedisUrl,
  uniquePrefix,
  uniqueSchema,
  type ServiceHandle,
  TEST_ADMIN_TOKEN,
} from '@patchbay/testkit';
import { EVERYTHING, mcpClient, putConnector, startEverythingHttp, textOf, waitAllActive } from './support';

jest.setTimeout(60_000);

const ROOT = { uri: 'file:///srv/projects/patchbay', name: 'patchbay checkout' };
const STATIC_DOC = 'demo://resource/static/document/architecture.md';

/** A client that can sample, elicit and list roots, answering with real handlers (and recording what it was asked). */
function peerClient(asked: { sampling: CreateMessageRequest[]; elicitations: string[]; roots: number }): Client {
  const client = new Client({ name: 'relay-peer', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } });
  client.setRequestHandler(CreateMessageRequestSchema, (request) => {
    asked.sampling.push(request);
    const first = request.params.messages[0]?.content;
    const prompt = first && 'text' in first ? String(first.text) : '';
    return { model: 'relay-test-model', role: 'assistant', content: { type: 'text', text: `sampled<${prompt}>` } };
  });
  client.setRequestHandler(ElicitRequestSchema, (request) => {
    asked.elicitations.push(request.params.message);
    return { action: 'accept', content: { name: 'Ada Lovelace', check: true } };
  });
  client.setRequestHandler(ListRootsRequestSchema, () => {
    asked.roots++;
    return { roots: [ROOT] };
  });
  return client;
}

describe('mcp-broker relays what clients ask of servers, and what servers ask of clients', () => {
  const tag = `pbmcprel${randomSuffix()}`;
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  let registry: ServiceHandle;
  let broker: ServiceHandle;
  let http: Awaited<ReturnType<typeof startEverythingHttp>>;
  const clients: Client[] = [];

  const connect = async (path = '/mcp', client?: Client): Promise<Client> => {
    const connected = await mcpClient(broker.url, TEST_ADMIN_TOKEN, path, client);
    clients.push(connected);
    return connected;
  };

  beforeAll(async () => {
    http = await startEverythingHttp(tag);
    registry = await startService('config-registry', {
      env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await putConnector(registry.url, 'everything', { type: 'agent_tool', options: { transport: 'stdio', command: 'node', args: [EVERYTHING, 'stdio', tag] } });
    await putConnector(registry.url, 'remote', { type: 'agent_tool', url: http.url, options: { transport: 'streamable-http' } });
    // server-everything's own names, unchanged: a client written for it works through the broker.
    await putConnector(registry.url, 'asIs', { type: 'agent_tool', options: { transport: 'virtual', select: ['everything__*'], stripPrefix: true } });
    broker = await startService('mcp-broker', {
      env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await waitAllActive(broker.url, 2);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await broker?.stop();
    await registry?.stop();
    await http?.stop();
    await dropSchema(schema).catch(() => undefined);
  });

  it('does not promise upstreams what a client cannot do: such tools are not listed to it', async () => {
    const plain = await connect();
    const names = (await plain.listTools()).tools.map((t) => t.name);
    expect(names).toContain('everything__echo');
    for (const missing of ['everything__trigger-sampling-request', 'everything__trigger-elicitation-request', 'everything__get-roots-list']) {
      expect(names).not.toContain(missing);
    }
  });

  it.each([
    ['stdio', '/mcp', 'everything__'],
    ['Streamable HTTP', '/mcp', 'remote__'],
    ['stdio, through a virtual server with stripPrefix', '/mcp/asIs', ''],
  ])('carries sampling, elicitation and roots to the calling client (%s)', async (_upstream, path, prefixed) => {
    const asked = { sampling: [] as CreateMessageRequest[], elicitations: [] as string[], roots: 0 };
    const client = await connect(path, peerClient(asked));
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([`${prefixed}trigger-sampling-request`, `${prefixed}trigger-elicitation-request`, `${prefixed}get-roots-list`]),
    );

    const sampled = await client.callTool({ name: `${prefixed}trigger-sampling-request`, arguments: { prompt: 'hello from the test', maxTokens: 20 } });
    expect(textOf(sampled)).toContain('sampled<');
    expect(textOf(sampled)).toContain('hello from the test');
    expect(textOf(sampled)).toContain('relay-test-model');
    expect(asked.sampling).toHaveLength(1);
    expect(asked.sampling[0]?.params.maxTokens).toBe(20);

    const elicited = await client.callTool({ name: `${prefixed}trigger-elicitation-request`, arguments: {} });
    expect(JSON.stringify(elicited)).toContain('Ada Lovelace');
    expect(asked.elicitations).toEqual(['Please provide inputs for the following fields:']);

    const roots = await client.callTool({ name: `${prefixed}get-roots-list`, arguments: {} });
    expect(JSON.stringify(roots)).toContain(ROOT.uri);
    expect(asked.roots).toBeGreaterThanOrEqual(1);
  });

  it('keeps two peers apart: each is asked only about its own calls', async () => {
    const askedA = { sampling: [] as CreateMessageRequest[], elicitations: [] as string[], roots: 0 };
    const askedB = { sampling: [] as CreateMessageRequest[], elicitations: [] as string[], roots: 0 };
    const [a, b] = await Promise.all([connect('/mcp', peerClient(askedA)), connect('/mcp', peerClient(askedB))]);
    await Promise.all([a.listTools(), b.listTools()]);
    const [ra, rb] = await Promise.all([
      a.callTool({ name: 'everything__trigger-sampling-request', arguments: { prompt: 'from A' } }),
      b.callTool({ name: 'everything__trigger-sampling-request', arguments: { prompt: 'from B' } }),
    ]);
    expect(textOf(ra)).toContain('from A');
    expect(textOf(rb)).toContain('from B');
    expect(askedA.sampling.map((r) => JSON.stringify(r.params.messages))).toEqual([expect.stringContaining('from A')]);
    expect(askedB.sampling.map((r) => JSON.stringify(r.params.messages))).toEqual([expect.stringContaining('from B')]);
  });

  it('relays logging/setLevel and the log messages that follow, named by server', async () => {
    const client = await connect();
    const logs: LoggingMessageNotification['params'][] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
    await client.setLoggingLevel('debug');
    await client.callTool({ name: 'everything__toggle-simulated-logging', arguments: {} });
    await eventually(() => logs.some((l) => l.logger === 'everything'), 20_000, 'a log message of everything');
    await client.callTool({ name: 'everything__toggle-simulated-logging', arguments: {} });
  });

  it('relays completion/complete to the prompt’s server under its own name', async () => {
    const client = await connect();
    const department = await client.complete({
      ref: { type: 'ref/prompt', name: 'everything__completable-prompt' },
      argument: { name: 'department', value: 'S' },
    });
    expect(department.completion.values.sort()).toEqual(['Sales', 'Support']);
    const name = await client.complete({
      ref: { type: 'ref/prompt', name: 'everything__completable-prompt' },
      argument: { name: 'name', value: '' },
      context: { arguments: { department: 'Engineering' } },
    });
    expect(name.completion.values).toEqual(['Alice', 'Bob', 'Charlie']);
    await expect(client.complete({ ref: { type: 'ref/prompt', name: 'nosuch__prompt' }, argument: { name: 'x', value: '' } })).rejects.toThrow(
      /unknown prompt/,
    );
  });

  it('relays resources/subscribe and the update notifications, until unsubscribed', async () => {
    const client = await connect();
    const updated: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    await client.subscribeResource({ uri: STATIC_DOC });
    await client.callTool({ name: 'everything__toggle-subscriber-updates', arguments: {} });
    await eventually(() => updated.includes(STATIC_DOC), 20_000, 'an update of the subscribed resource');
    await client.unsubscribeResource({ uri: STATIC_DOC });
    await client.callTool({ name: 'everything__toggle-subscriber-updates', arguments: {} });
    await expect(client.subscribeResource({ uri: 'nosuch://resource' })).rejects.toThrow(/unknown resource/);
  });
});
