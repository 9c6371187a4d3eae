import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
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
import { EVERYTHING, MCP_HEADERS, putConnector, textOf, waitAllActive } from './support';

jest.setTimeout(90_000);

const AUTH = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

interface SseEvent {
  id: string | undefined;
  data: string;
}

/** Reads SSE events of a response until `done` says stop (or the stream ends), then lets go of it. */
async function readEvents(response: Response, done: (events: SseEvent[]) => boolean = () => false): Promise<SseEvent[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  let buffer = '';
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = block.split('\n');
        if (!lines.some((l) => l.startsWith('data:'))) continue;
        const id = lines.find((l) => l.startsWith('id: '))?.slice(4);
        const data = lines
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        events.push({ id, data });
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return events;
}

const answered = (id: number) => (events: SseEvent[]) => events.some((e) => e.data.includes(`"id":${id}`) && e.data.includes('"result"'));

async function initialize(url: string, protocolVersion: string): Promise<string> {
  const response = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...AUTH },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion, capabilities: {}, clientInfo: { name: 'resume', version: '1' } },
    }),
  });
  await response.text();
  const id = response.headers.get('mcp-session-id');
  if (!id) throw new Error(`initialize: ${response.status}`);
  const initialized = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...AUTH, 'mcp-session-id': id, 'mcp-protocol-version': protocolVersion },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await initialized.text();
  return id;
}

/** A long call with a progress token (the SDK's SSE path), raw. */
function longCall(url: string, session: string, version: string, id: number, duration = 0.6): Promise<Response> {
  return fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...AUTH, 'mcp-session-id': session, 'mcp-protocol-version': version },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'everything__trigger-long-running-operation', arguments: { duration, steps: 3 }, _meta: { progressToken: `p${id}` } },
    }),
  });
}

function resume(url: string, session: string, lastEventId: string): Promise<Response> {
  return fetch(`${url}/mcp`, {
    headers: { accept: 'text/event-stream', ...AUTH, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25', 'last-event-id': lastEventId },
  });
}

describe.each([
  ['in memory (one replica, no Redis)', false],
  ['in Redis (two replicas)', true],
])('mcp-broker SSE resumption %s', (_name, redis) => {
  const tag = `pbmcpres${randomSuffix()}`;
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  let registry: ServiceHandle;
  let a: ServiceHandle;
  let b: ServiceHandle | undefined;
  const clients: Client[] = [];

  beforeAll(async () => {
    registry = await startService('config-registry', {
      env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await putConnector(registry.url, 'everything', { type: 'agent_tool', options: { transport: 'stdio', command: 'node', args: [EVERYTHING, 'stdio', tag] } });
    const env = {
      PATCHBAY_REGISTRY_URL: registry.url,
      PATCHBAY_MCP_SSE_POLL_MS: '300',
      ...(redis ? { PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix } : {}),
    };
    [a, b] = await Promise.all([startService('mcp-broker', { env }), redis ? startService('mcp-broker', { env }) : Promise.resolve(undefined)]);
    await Promise.all([waitAllActive(a.url, 1), b ? waitAllActive(b.url, 1) : undefined]);
  }, 120_000);

  let stopped = false;

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    if (!stopped) await Promise.all([a?.stop(), b?.stop()]);
    await registry?.stop();
    await dropSchema(schema).catch(() => undefined);
  });

  it('primes a 2025-11-25 stream with an event id and empty data, and replays what a client missed after it', async () => {
    const session = await initialize(a.url, '2025-11-25');
    const call = await longCall(a.url, session, '2025-11-25', 5, 0.6);
    expect(call.headers.get('content-type')).toContain('text/event-stream');
    // The stream ends with the answer, or earlier when polling closes it.
    const [priming, ...sent] = await readEvents(call);
    expect(priming?.id).toEqual(expect.any(String));
    expect(priming?.data).toBe('');
    expect(sent.every((e) => typeof e.id === 'string')).toBe(true);

    // Reconnecting after the priming event (on the other replica when there is one) gives every later event
    // again; a replica that ends the replay early is asked again from the last event it gave.
    const replayed: SseEvent[] = [];
    let last = priming!.id!;
    while (!answered(5)(replayed)) {
      const response = await resume((b ?? a).url, session, last);
      expect(response.status).toBe(200);
      const events = await readEvents(response, (seen) => answered(5)([...replayed, ...seen]));
      replayed.push(...events);
      last = replayed.at(-1)?.id ?? last;
      if (!answered(5)(replayed)) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(replayed.slice(0, sent.length)).toEqual(sent);
    expect(new Set(replayed.map((e) => e.id)).size).toBe(replayed.length);
    expect(replayed.filter((e) => e.data.includes('notifications/progress'))).toHaveLength(3);
  });

  it('sends no priming event to a client that negotiated an older version', async () => {
    const session = await initialize(a.url, '2025-03-26');
    const events = await readEvents(await longCall(a.url, session, '2025-03-26', 6, 0.2));
    expect(events.length).toBeGreaterThan(0);
    expect(events.some((e) => e.data === '')).toBe(false);
    expect(answered(6)(events)).toBe(true);
  });

  it('refuses an event id it never gave out with a 400', async () => {
    const session = await initialize(a.url, '2025-11-25');
    const refused = await resume((b ?? a).url, session, 'no-such-stream');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
  });

  it('closes a long call’s stream (SSE polling) and the SDK client resumes it with Last-Event-ID to get its answer', async () => {
    const resumed: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      const last = new Headers(init?.headers).get('last-event-id');
      if (last) resumed.push(last);
      return fetch(input, init);
    };
    const client = new Client({ name: 'poller', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${a.url}/mcp`), { requestInit: { headers: AUTH }, fetch: recording }));
    clients.push(client);
    const progress: number[] = [];
    const result = await client.callTool({ name: 'everything__trigger-long-running-operation', arguments: { duration: 1.5, steps: 3 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
      resetTimeoutOnProgress: true,
    });
    expect(textOf(result)).toContain('completed');
    expect(progress.length).toBe(3);
    expect(resumed.length).toBeGreaterThan(0);
  });

  it('exits 0 on SIGTERM with a resumed stream still open', async () => {
    const session = await initialize(a.url, '2025-11-25');
    // Read the call to its answer: a stream the client dropped mid-way may still count as connected (409) for a moment.
    const [priming] = await readEvents(await longCall(a.url, session, '2025-11-25', 9, 0.1), answered(9));
    // On the opening replica a resumed stream stays open: shutdown must end it.
    const open = await resume(a.url, session, priming!.id!);
    expect(open.status).toBe(200);
    const reading = readEvents(open);
    stopped = true;
    const results = await Promise.all([a.stop('SIGTERM'), b?.stop('SIGTERM')]);
    expect(results.map((r) => r?.code ?? 0)).toEqual([0, 0]);
    await reading;
  });
});
