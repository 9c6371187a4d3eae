import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectorWatcher, RegistryClient } from '@patchbay/nest';
import { RedisBus } from '@patchbay/core/redis';
import { TEST_ADMIN_TOKEN, TcpProxy, api, eventually, testRedisUrl } from '@patchbay/testkit';
import Redis from 'ioredis';
import { startRegistry, TOKENS, type StoreKind, type TestRegistry } from './support/registry';
import { SseReader } from './support/sse';

const SECRET = 'sk-live-VERY-secret-4242';
const DB_PASSWORD = 'db-pa55word-never-shown';

const llmBody = {
  type: 'llm',
  label: 'Main LLM',
  url: 'https://llm.example.com/v1',
  credentials: { apiKey: SECRET },
  options: { models: ['gpt-4o-mini'], priority: 1 },
};

function expectProblem(response: { status: number; headers: Headers; body: { code?: string; detail?: string } }, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toContain('application/problem+json');
  expect(response.body.code).toBe(code);
  expect(typeof response.body.detail).toBe('string');
}

describe.each<StoreKind>(['postgres', 'pglite'])('config-registry e2e on %s', (store) => {
  let registry: TestRegistry;
  let url: string;
  let busMessages: string[];
  let spy: Redis;

  beforeAll(async () => {
    registry = await startRegistry(store, {
      // Local-mode resolution reads {CONFIG_ID}_URL / {CONFIG_ID}_APIKEY from the registry's env.
      ENVSVC_URL: 'http://localhost:9999/api',
      ENVSVC_APIKEY: 'env-key-123456',
    });
    url = registry.url;
    busMessages = [];
    spy = new Redis(testRedisUrl());
    await spy.psubscribe(`${registry.busPrefix}*`);
    spy.on('pmessage', (_pattern, _channel, message: string) => busMessages.push(message));
  });

  afterAll(async () => {
    spy?.disconnect();
    await registry?.stop();
  });

  it('creates, reads, updates idempotently, lists and deletes a connector', async () => {
    const created = await api(url, 'PUT', '/v1/connectors/LLM', { body: llmBody });
    expect(created.status).toBe(201);
    expect(created.body.connector).toMatchObject({ configId: 'LLM', type: 'llm', label: 'Main LLM', credentialsSet: ['apiKey'] });
    const revision = created.body.connector.revision as number;

    const read = await api(url, 'GET', '/v1/connectors/LLM');
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe(`"${revision}"`);
    expect(read.body.options).toEqual({ models: ['gpt-4o-mini'], priority: 1 });

    const same = await api(url, 'PUT', '/v1/connectors/LLM', { body: llmBody });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ created: false, changed: false });
    expect(same.body.connector.revision).toBe(revision);

    const changed = await api(url, 'PUT', '/v1/connectors/LLM', { body: { ...llmBody, label: 'Renamed' } });
    expect(changed.body.changed).toBe(true);
    expect(changed.body.connector.revision).toBeGreaterThan(revision);

    const stale = await api(url, 'PUT', '/v1/connectors/LLM', { body: llmBody, headers: { 'if-match': `"${revision}"` } });
    expectProblem(stale, 409, 'CONFLICT');

    await api(url, 'PUT', '/v1/connectors/TEMPDB', { body: { type: 'database', url: 'postgres://db.local:5432/app' } });
    const llms = await api(url, 'GET', '/v1/connectors?type=llm');
    expect(llms.body.items.map((c: { configId: string }) => c.configId)).toEqual(['LLM']);
    expect(llms.body.head).toBeGreaterThanOrEqual(changed.body.connector.revision);

    const deleted = await api(url, 'DELETE', '/v1/connectors/TEMPDB');
    expect(deleted.status).toBe(200);
    expectProblem(await api(url, 'GET', '/v1/connectors/TEMPDB'), 404, 'NOT_FOUND');
    expectProblem(await api(url, 'DELETE', '/v1/connectors/TEMPDB'), 404, 'NOT_FOUND');
  });

  it('stores array connectors with one entry per member', async () => {
    const put = await api(url, 'PUT', '/v1/connectors/agentTools', {
      body: {
        type: 'agent_tool',
        members: [
          { id: 'memory', transport: 'stdio', options: { command: 'node', args: ['server.js'] } },
          { id: 'search', transport: 'streamable-http', url: 'http://search.local:8080/mcp', credentials: { apiKey: 'member-key-987' } },
        ],
      },
    });
    expect(put.status).toBe(201);
    const read = await api(url, 'GET', '/v1/connectors/agentTools');
    expect(read.body.members).toHaveLength(2);
    expect(read.body.members[1]).toMatchObject({ id: 'search', credentialsSet: ['apiKey'] });
    expect(read.text).not.toContain('member-key-987');
    const resolved = await api(url, 'GET', '/v1/connectors/agentTools/resolve');
    expect(resolved.body.members.map((m: { id: string; url: string | null }) => [m.id, m.url])).toEqual([
      ['memory', null],
      ['search', 'http://search.local:8080/mcp'],
    ]);
    expect(resolved.body.members[1].headers).toEqual({ Authorization: 'Bearer member-key-987' });
  });

  it('resolves an explicit url, and from {CONFIG_ID}_URL / _APIKEY in local mode', async () => {
    const explicit = await api(url, 'GET', '/v1/connectors/LLM/resolve');
    expect(explicit.body).toMatchObject({ url: 'https://llm.example.com/v1', source: 'explicit', mode: 'local' });
    await api(url, 'PUT', '/v1/connectors/ENVSVC', { body: { type: 'api' } });
    const local = await api(url, 'GET', '/v1/connectors/ENVSVC/resolve');
    expect(local.body).toMatchObject({ url: 'http://localhost:9999/api', source: 'env', headers: { Authorization: 'Bearer env-key-123456' } });
    await api(url, 'PUT', '/v1/connectors/NOWHERE', { body: { type: 'api' } });
    expect((await api(url, 'GET', '/v1/connectors/NOWHERE/resolve')).body).toMatchObject({ url: null, source: 'none' });
  });

  it('builds stack-mode URLs from stack ids', async () => {
    const stack = await startRegistry(store, { PATCHBAY_MODE: 'stack', PATCHBAY_STACK_DOMAIN: 'svc.cluster.local' });
    try {
      await api(stack.url, 'PUT', '/v1/connectors/DATABASE', { body: { type: 'database', stackId: 'pg-main', options: { database: 'app' } } });
      await api(stack.url, 'PUT', '/v1/connectors/EMBED', { body: { type: 'llm', stackId: 'embedder' } });
      await api(stack.url, 'PUT', '/v1/connectors/CUSTOM', { body: { type: 'api', stackId: 'svc1', options: { namespace: 'tools' } } });
      const db = await api(stack.url, 'GET', '/v1/connectors/DATABASE/resolve');
      expect(db.body).toMatchObject({ mode: 'stack', source: 'stack', url: 'postgres://pg-main-rw.databases.svc.cluster.local:5432/app' });
      const llm = await api(stack.url, 'GET', '/v1/connectors/EMBED/resolve');
      expect(llm.body.url).toBe('http://embedder.llms.svc.cluster.local:8080');
      expect((await api(stack.url, 'GET', '/v1/connectors/CUSTOM/resolve')).body.url).toBe('http://svc1.tools.svc.cluster.local:8080');
    } finally {
      await stack.stop();
    }
  });

  it('never returns credentials to readers, but does to resolve-scoped tokens', async () => {
    await api(url, 'PUT', '/v1/connectors/APPDB', {
      body: { type: 'database', url: 'postgres://db.local:5432/app', credentials: { username: 'app', password: DB_PASSWORD } },
    });
    for (const path of ['/v1/connectors/APPDB', '/v1/connectors', '/v1/connectors/APPDB/history', '/v1/connectors/LLM/history', '/v1/changes?since=0']) {
      const response = await api(url, 'GET', path, { token: TOKENS.reader });
      expect(response.status).toBe(200);
      expect(response.text).not.toContain(SECRET);
      expect(response.text).not.toContain(DB_PASSWORD);
    }
    const asReader = await api(url, 'GET', '/v1/connectors/LLM/resolve', { token: TOKENS.reader });
    expect(asReader.status).toBe(200);
    expect(asReader.body.credentials).toBeUndefined();
    expect(asReader.body.headers).toEqual({});
    expect(asReader.text).not.toContain(SECRET);

    const asResolver = await api(url, 'GET', '/v1/connectors/LLM/resolve', { token: TOKENS.resolver });
    expect(asResolver.body.credentials).toEqual({ apiKey: SECRET });
    expect(asResolver.body.headers).toEqual({ Authorization: `Bearer ${SECRET}` });
    const db = await api(url, 'GET', '/v1/connectors/APPDB/resolve', { token: TOKENS.resolver });
    expect(db.body.credentials).toEqual({ username: 'app', password: DB_PASSWORD });
  });

  it('keeps secrets out of logs and bus messages', async () => {
    await eventually(() => busMessages.length > 0, 10_000, 'bus messages');
    const bus = busMessages.join('\n');
    expect(bus).toContain('connector.changed.v1');
    expect(bus).not.toContain(SECRET);
    expect(bus).not.toContain(DB_PASSWORD);
    const logs = registry.service.logs();
    expect(logs).toContain('"route":"/v1/connectors/:configId"');
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(DB_PASSWORD);
    expect(logs).not.toContain(TEST_ADMIN_TOKEN);
  });

  it('carries the caller trace id into the bus envelope and the request log', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await api(url, 'PUT', '/v1/connectors/TRACED', {
      body: { type: 'api', url: 'http://traced.local' },
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    const envelope = await eventually(
      () => busMessages.map((m) => JSON.parse(m) as { data: { configId: string }; traceparent?: string }).find((m) => m.data.configId === 'TRACED'),
      10_000,
      'the TRACED envelope',
    );
    expect(envelope.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(envelope.traceparent).not.toContain('00f067aa0ba902b7');
    await registry.service.waitForLog(new RegExp(`"traceId":"${traceId}".*"route":"/v1/connectors/:configId"`));
  });

  it('shows a token limited to some connectors only those: reads, resolve, history, changes and watch', async () => {
    const ok = async (configId: string, body: unknown): Promise<number> => {
      const response = await api(url, 'PUT', `/v1/connectors/${configId}`, { body });
      expect(response.status).toBeLessThan(300);
      return response.body.connector.revision as number;
    };
    const database = (password: string): unknown => ({ type: 'database', url: 'postgres://db.local:5432/app', credentials: { username: 'app', password } });
    const before = (await api(url, 'GET', '/v1/changes?since=0&limit=1')).body.head as number;
    const seen = await ok('LIM_A', database('password-of-LIM_A'));
    await ok('LIM_B', database('password-of-LIM_B'));
    const limited = { token: TOKENS.limited };

    const resolvedA = await api(url, 'GET', '/v1/connectors/LIM_A/resolve', limited);
    expect(resolvedA.body.credentials).toEqual({ username: 'app', password: 'password-of-LIM_A' });
    // Hidden exactly like a connector that does not exist.
    const missing = await api(url, 'GET', '/v1/connectors/LIM_MISSING', limited);
    for (const path of ['/v1/connectors/LIM_B', '/v1/connectors/LIM_B/resolve', '/v1/connectors/LIM_B/history']) {
      const response = await api(url, 'GET', path, limited);
      expectProblem(response, 404, 'NOT_FOUND');
      expect(response.body.detail).toBe(missing.body.detail.replace('LIM_MISSING', 'LIM_B'));
      expect(response.text).not.toContain('password-of-LIM_B');
    }
    const listed = await api(url, 'GET', '/v1/connectors', limited);
    expect(listed.body.items.map((c: { configId: string }) => c.configId)).toEqual(['LIM_A']);
    const changes = await api(url, 'GET', `/v1/changes?since=${before}`, limited);
    expect(changes.body.changes.map((c: { configId: string; revision: number }) => [c.configId, c.revision])).toEqual([['LIM_A', seen]]);

    // Watch: the backlog from `since` and the live changes, both filtered.
    const controller = new AbortController();
    try {
      const watch = await SseReader.open(`${url}/v1/watch?since=${before}`, TOKENS.limited, controller.signal);
      expect(await watch.next()).toMatchObject({ id: seen, data: { configId: 'LIM_A' } });
      await ok('LIM_B', { type: 'api', url: 'http://b.local' });
      const live = await ok('LIM_A', { type: 'api', url: 'http://a.local' });
      expect(await watch.next()).toMatchObject({ id: live, data: { configId: 'LIM_A' } });
    } finally {
      controller.abort();
    }
  });

  it("refuses writes outside a limited admin token's allow-list, whether or not the connector exists", async () => {
    const admin = { token: TOKENS.limitedAdmin };
    expect((await api(url, 'PUT', '/v1/connectors/LIM_ADMIN', { ...admin, body: { type: 'api', url: 'http://mine.local' } })).status).toBe(201);
    await api(url, 'PUT', '/v1/connectors/LIM_OTHER', { body: { type: 'api', url: 'http://other.local' } });
    const other = await api(url, 'GET', '/v1/connectors/LIM_OTHER');
    for (const configId of ['LIM_OTHER', 'LIM_NEVER']) {
      const put = await api(url, 'PUT', `/v1/connectors/${configId}`, { ...admin, body: { type: 'api', url: 'http://taken.local' } });
      expectProblem(put, 403, 'FORBIDDEN');
      expect(put.body.detail).toContain('allow-list');
      expectProblem(await api(url, 'DELETE', `/v1/connectors/${configId}`, admin), 403, 'FORBIDDEN');
      expectProblem(await api(url, 'POST', `/v1/connectors/${configId}/rollback`, { ...admin, body: { revision: 1 } }), 403, 'FORBIDDEN');
    }
    const apply = await api(url, 'POST', '/v1/apply', { ...admin, body: { connectors: { LIM_ADMIN: { type: 'api' }, LIM_OTHER: { type: 'api' } } } });
    expectProblem(apply, 403, 'FORBIDDEN');
    // Prune only deletes what the token may see.
    const pruned = await api(url, 'POST', '/v1/apply?prune=true', {
      ...admin,
      body: { connectors: { LIM_ADMIN: { type: 'api', url: 'http://mine2.local' } } },
    });
    expect(pruned.status).toBe(200);
    expect(pruned.body.results).toEqual([expect.objectContaining({ configId: 'LIM_ADMIN', action: 'updated' })]);
    expect((await api(url, 'GET', '/v1/connectors/LIM_OTHER')).body.revision).toBe(other.body.revision);
    expect((await api(url, 'GET', '/v1/connectors', admin)).body.items.map((c: { configId: string }) => c.configId)).toEqual(['LIM_ADMIN']);
  });

  it('answers 401 without a token and 403 with the wrong scope', async () => {
    expectProblem(await api(url, 'GET', '/v1/connectors', { token: null }), 401, 'UNAUTHORIZED');
    expectProblem(await api(url, 'GET', '/v1/connectors', { token: 'not-a-known-token-at-all' }), 401, 'UNAUTHORIZED');
    expectProblem(await api(url, 'PUT', '/v1/connectors/X1', { token: TOKENS.reader, body: llmBody }), 403, 'FORBIDDEN');
    expectProblem(await api(url, 'GET', '/v1/connectors', { token: TOKENS.user }), 403, 'FORBIDDEN');
    expect((await api(url, 'GET', '/health/ready', { token: null })).status).toBe(200);
    expect((await api(url, 'GET', '/metrics', { token: null })).text).toContain('http_server_request_duration');
  });

  it('rejects bad input with a 4xx problem and writes nothing', async () => {
    const head = (await api(url, 'GET', '/v1/changes?since=0&limit=1')).body.head as number;
    expectProblem(await api(url, 'PUT', '/v1/connectors/9bad', { body: llmBody }), 400, 'VALIDATION');
    const unknownType = await api(url, 'PUT', '/v1/connectors/GOOD', { body: { ...llmBody, type: 'quantum' } });
    expectProblem(unknownType, 400, 'VALIDATION');
    expect(unknownType.body.detail).toContain('type');
    expectProblem(await api(url, 'PUT', '/v1/connectors/GOOD', { raw: '{"type": "llm",', headers: { 'content-type': 'application/json' } }), 400, 'VALIDATION');
    expectProblem(await api(url, 'PUT', '/v1/connectors/GOOD', { body: { type: 'llm', label: 'x'.repeat(2_000_000) } }), 413, 'PAYLOAD_TOO_LARGE');
    expectProblem(await api(url, 'PUT', '/v1/connectors/GOOD', { body: { type: 'database', url: 'http://not-postgres' } }), 400, 'VALIDATION');
    expectProblem(await api(url, 'GET', '/v1/connectors?type=quantum'), 400, 'VALIDATION');
    expectProblem(await api(url, 'GET', '/v1/changes?since=-4'), 400, 'VALIDATION');

    const yaml = [
      'connectors:',
      '  - configId: FIRSTOK',
      '    type: api',
      '    url: http://first.local',
      '  - configId: SECONDBAD',
      '    type: llm',
      '    options:',
      '      models: not-a-list',
      '',
    ].join('\n');
    const applied = await api(url, 'POST', '/v1/apply', { raw: yaml, headers: { 'content-type': 'application/yaml' } });
    expectProblem(applied, 400, 'VALIDATION');
    expect(applied.body.detail).toContain('SECONDBAD');
    expectProblem(await api(url, 'GET', '/v1/connectors/FIRSTOK'), 404, 'NOT_FOUND');
    expectProblem(await api(url, 'GET', '/v1/connectors/GOOD'), 404, 'NOT_FOUND');
    expect((await api(url, 'GET', '/v1/changes?since=0&limit=1')).body.head).toBe(head);
    expect(registry.service.process.exitCode).toBeNull();
  });

  it('answers 400 naming the field for text no store can hold, deep nesting and YAML alias bombs', async () => {
    const head = (await api(url, 'GET', '/v1/changes?since=0&limit=1')).body.head as number;
    const deep = (levels: number): unknown => {
      let value: unknown = 'bottom';
      for (let i = 0; i < levels; i++) value = { next: value };
      return value;
    };
    // Raw JSON text, so the escapes reach the server exactly as written.
    const puts: [string, string][] = [
      ['{"type":"api","label":"a\\u0000b"}', 'label: must not contain NUL'],
      ['{"type":"api","label":"a\\ud800b"}', 'label: must not contain a lone UTF-16 surrogate'],
      ['{"type":"api","options":{"tag":"x\\udc00"}}', 'options.tag: must not contain a lone'],
      ['{"type":"api","options":{"k\\u0000":1}}', 'options: key "k\\u0000" must not contain NUL'],
      ['{"type":"llm","credentials":{"apiKey":"sk-\\u0000-hidden"}}', 'credentials.apiKey: must not contain NUL'],
      [
        '{"type":"agent_tool","members":[{"id":"m","transport":"stdio","options":{"command":"x","args":["\\u0000"]}}]}',
        'members[0].options.args[0]: must not contain NUL',
      ],
      [JSON.stringify({ type: 'api', options: { deep: deep(3000) } }), 'deeper than 32 levels'],
    ];
    for (const [raw, expected] of puts) {
      const response = await api(url, 'PUT', '/v1/connectors/BADTEXT', { raw, headers: { 'content-type': 'application/json' } });
      expectProblem(response, 400, 'VALIDATION');
      expect(response.body.detail).toContain(expected);
      expect(response.text).not.toContain('hidden');
    }

    const applyJson = await api(url, 'POST', '/v1/apply', {
      raw: '{"connectors":[{"configId":"BADTEXT","type":"api","label":"\\u0000"}]}',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(applyJson, 400, 'VALIDATION');
    expect(applyJson.body.detail).toContain('connectors[0] (BADTEXT) label: must not contain NUL');
    const applyDeep = await api(url, 'POST', '/v1/apply', { body: { connectors: { BADTEXT: { type: 'api', options: deep(40) } } } });
    expectProblem(applyDeep, 400, 'VALIDATION');
    expect(applyDeep.body.detail).toContain('connectors.BADTEXT options');

    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [name, previous] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
    ] as const) {
      bomb.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`);
    }
    bomb.push('connectors: {}');
    const applyBomb = await api(url, 'POST', '/v1/apply', { raw: bomb.join('\n'), headers: { 'content-type': 'application/yaml' } });
    expectProblem(applyBomb, 400, 'VALIDATION');
    expect(applyBomb.body.detail).toContain('aliases');
    const yamlNul = await api(url, 'POST', '/v1/apply', {
      raw: 'connectors:\n  BADTEXT:\n    type: api\n    label: "x\\0y"\n',
      headers: { 'content-type': 'application/yaml' },
    });
    expectProblem(yamlNul, 400, 'VALIDATION');
    expect(yamlNul.body.detail).toContain('connectors.BADTEXT label: must not contain NUL');

    expectProblem(await api(url, 'GET', '/v1/connectors/BADTEXT'), 404, 'NOT_FOUND');
    expect((await api(url, 'GET', '/v1/changes?since=0&limit=1')).body.head).toBe(head);
    expect(registry.service.process.exitCode).toBeNull();
  });

  it('applies a YAML document atomically', async () => {
    const yaml = 'connectors:\n  DOC_A:\n    type: api\n    url: http://a.local\n  DOC_B:\n    type: endpoint\n    url: http://b.local\n';
    const applied = await api(url, 'POST', '/v1/apply', { raw: yaml, headers: { 'content-type': 'application/yaml' } });
    expect(applied.status).toBe(200);
    expect(applied.body.results.map((r: { configId: string; action: string }) => `${r.configId}:${r.action}`).sort()).toEqual([
      'DOC_A:created',
      'DOC_B:created',
    ]);
    const again = await api(url, 'POST', '/v1/apply', { body: { connectors: [{ configId: 'DOC_A', type: 'api', url: 'http://a.local' }] } });
    expect(again.body.results).toEqual([expect.objectContaining({ configId: 'DOC_A', action: 'unchanged' })]);
  });

  it('answers a dry run with what would change, validated, and writes nothing', async () => {
    await api(url, 'PUT', '/v1/connectors/DRY_KEEP', { body: { type: 'llm', url: 'http://keep.local/v1', credentials: { apiKey: 'sk-dry-old' } } });
    await api(url, 'PUT', '/v1/connectors/DRY_GONE', { body: { type: 'api', url: 'http://gone.local' } });
    const head = (await api(url, 'GET', '/v1/changes?since=0&limit=1')).body.head as number;
    const published = busMessages.length;
    const document = {
      connectors: {
        DRY_KEEP: { type: 'llm', url: 'http://keep.local/v2', credentials: { apiKey: 'sk-dry-new' } },
        DRY_NEW: { type: 'api', url: 'http://new.local' },
      },
    };
    const dry = await api(url, 'POST', '/v1/apply?dryRun=true&prune=true', { body: document });
    expect(dry.status).toBe(200);
    expect(dry.body.dryRun).toBe(true);
    expect(dry.body.revision).toBe(head);
    const byId = Object.fromEntries((dry.body.results as Array<{ configId: string }>).map((r) => [r.configId, r]));
    expect(byId.DRY_KEEP).toMatchObject({ action: 'updated', changed: ['url'], credentialsChanged: ['apiKey'] });
    expect(byId.DRY_NEW).toMatchObject({ action: 'created', revision: 0 });
    expect(byId.DRY_GONE).toMatchObject({ action: 'deleted' });
    expect(dry.text).not.toContain('sk-dry-new');

    // Nothing was written, no revision burnt, nothing announced.
    expect((await api(url, 'GET', '/v1/changes?since=0&limit=1')).body.head).toBe(head);
    expectProblem(await api(url, 'GET', '/v1/connectors/DRY_NEW'), 404, 'NOT_FOUND');
    expect((await api(url, 'GET', '/v1/connectors/DRY_GONE')).status).toBe(200);
    expect((await api(url, 'GET', '/v1/connectors/DRY_KEEP')).body.url).toBe('http://keep.local/v1');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(busMessages.length).toBe(published);

    // The same secret again is no change: compared by fingerprint, not shown.
    const same = await api(url, 'POST', '/v1/apply?dryRun=true', {
      body: { connectors: { DRY_KEEP: { type: 'llm', url: 'http://keep.local/v1', credentials: { apiKey: 'sk-dry-old' } } } },
    });
    expect(same.body.results).toEqual([expect.objectContaining({ configId: 'DRY_KEEP', action: 'unchanged', changed: [], credentialsChanged: [] })]);
    // A bad document fails the dry run as it would fail the apply.
    const bad = await api(url, 'POST', '/v1/apply?dryRun=true', { body: { connectors: { DRY_BAD: { type: 'database', url: 'http://not-postgres' } } } });
    expectProblem(bad, 400, 'VALIDATION');
    expect(bad.body.detail).toContain('DRY_BAD');
    expectProblem(await api(url, 'POST', '/v1/apply?dryRun=maybe', { body: document }), 400, 'VALIDATION');
  });

  it('rolls back to an earlier revision, secrets included, as a new revision', async () => {
    const v1 = await api(url, 'PUT', '/v1/connectors/ROLLME', { body: { ...llmBody, credentials: { apiKey: 'key-one-1111' } } });
    const v2 = await api(url, 'PUT', '/v1/connectors/ROLLME', {
      body: { ...llmBody, url: 'https://v2.example.com/v1', credentials: { apiKey: 'key-two-2222' } },
    });
    expect(v2.body.connector.revision).toBeGreaterThan(v1.body.connector.revision);
    const rolled = await api(url, 'POST', '/v1/connectors/ROLLME/rollback', { body: { revision: v1.body.connector.revision } });
    expect(rolled.status).toBe(200);
    expect(rolled.body.connector.revision).toBeGreaterThan(v2.body.connector.revision);
    expect(rolled.body.connector.url).toBe('https://llm.example.com/v1');
    const resolved = await api(url, 'GET', '/v1/connectors/ROLLME/resolve');
    expect(resolved.body.credentials).toEqual({ apiKey: 'key-one-1111' });
    const history = await api(url, 'GET', '/v1/connectors/ROLLME/history');
    expect(history.body.revisions.map((r: { revision: number }) => r.revision)).toEqual([
      rolled.body.connector.revision,
      v2.body.connector.revision,
      v1.body.connector.revision,
    ]);
    expect(history.body.revisions[0]).toMatchObject({ actor: 'admin', fromRevision: v1.body.connector.revision });
    expect(history.text).not.toContain('key-one-1111');
    expectProblem(await api(url, 'POST', '/v1/connectors/ROLLME/rollback', { body: { revision: 1 } }), 404, 'NOT_FOUND');
    expectProblem(await api(url, 'POST', '/v1/connectors/ROLLME/rollback', { body: {} }), 400, 'VALIDATION');
  });

  it('streams changes over SSE and resumes with Last-Event-ID', async () => {
    const controller = new AbortController();
    const response = await fetch(`${url}/v1/watch`, { headers: { authorization: `Bearer ${TOKENS.reader}` }, signal: controller.signal });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const nextEvent = async (): Promise<{ id: number; event: string; data: { configId: string } }> => {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = Object.fromEntries(
            block
              .split('\n')
              .filter((l) => !l.startsWith(':') && l.includes(': '))
              .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
          );
          if (fields.id) return { id: Number(fields.id), event: fields.event ?? '', data: JSON.parse(fields.data ?? 'null') };
          continue;
        }
        const chunk = await reader.read();
        if (chunk.done) throw new Error('stream ended');
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    };
    const put = await api(url, 'PUT', '/v1/connectors/WATCHED', { body: { type: 'api', url: 'http://w1.local' } });
    const first = await nextEvent();
    expect(first).toMatchObject({ id: put.body.connector.revision, event: 'connector.changed', data: { configId: 'WATCHED' } });
    controller.abort();

    // Changes made while disconnected are replayed from Last-Event-ID.
    await api(url, 'PUT', '/v1/connectors/WATCHED', { body: { type: 'api', url: 'http://w2.local' } });
    await api(url, 'DELETE', '/v1/connectors/WATCHED');
    const resumed = new AbortController();
    const again = await fetch(`${url}/v1/watch`, {
      headers: { authorization: `Bearer ${TOKENS.reader}`, 'last-event-id': String(first.id) },
      signal: resumed.signal,
    });
    const text = await (async () => {
      const r = again.body!.getReader();
      let all = '';
      while (!all.includes('connector.deleted')) {
        const chunk = await r.read();
        if (chunk.done) break;
        all += decoder.decode(chunk.value, { stream: true });
      }
      return all;
    })();
    resumed.abort();
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBeGreaterThan(first.id);
    expect(text).toMatch(/event: connector\.changed[\s\S]*event: connector\.deleted/);
  });

  it('delivers a change to two registry-client subscribers on separate connections', async () => {
    const client = new RegistryClient({ baseUrl: url, token: TOKENS.resolver });
    const buses = [0, 1].map(() => new RedisBus({ url: testRedisUrl(), prefix: registry.busPrefix }));
    const watchers = buses.map((bus) => new ConnectorWatcher({ client, bus, types: ['api'], polling: false }));
    try {
      await Promise.all(
        watchers.map(async (w) => {
          await w.start();
          await w.waitUntilSynced();
        }),
      );
      const seen = watchers.map((w) => new Promise<string | null>((resolve) => w.on('upsert', (c) => c.configId === 'FANOUT' && resolve(c.url))));
      await api(url, 'PUT', '/v1/connectors/FANOUT', { body: { type: 'api', url: 'http://fanout.local' } });
      expect(await Promise.all(seen)).toEqual(['http://fanout.local', 'http://fanout.local']);
    } finally {
      await Promise.all(watchers.map((w) => w.stop()));
      await Promise.all(buses.map((b) => b.close()));
    }
  });

  it('lets a subscriber that missed messages while Redis was unreachable catch up', async () => {
    const redis = new URL(testRedisUrl());
    const proxy = new TcpProxy(redis.hostname, Number(redis.port || 6379));
    const port = await proxy.start();
    const bus = new RedisBus({ url: `redis://127.0.0.1:${port}`, prefix: registry.busPrefix });
    const watcher = new ConnectorWatcher({
      client: new RegistryClient({ baseUrl: url, token: TOKENS.resolver }),
      bus,
      types: ['api'],
      polling: false,
      resyncIntervalMs: 600_000,
    });
    try {
      await watcher.start();
      await watcher.waitUntilSynced();
      await proxy.cut();
      await eventually(() => !bus.connected, 5000, 'bus to notice the outage');
      const missed = await api(url, 'PUT', '/v1/connectors/MISSED', { body: { type: 'api', url: 'http://missed.local' } });
      expect(missed.status).toBe(201);
      expect(watcher.get('MISSED')).toBeUndefined();
      await proxy.restore();
      const caughtUp = await eventually(() => watcher.get('MISSED'), 15_000, 'resync after reconnect');
      expect(caughtUp.url).toBe('http://missed.local');
      expect(watcher.revision).toBeGreaterThanOrEqual(missed.body.connector.revision);
    } finally {
      await watcher.stop();
      await bus.close();
      await proxy.stop();
    }
  });
});

describe('config-registry declarative config file', () => {
  it('applies PATCHBAY_CONFIG_FILE at start', async () => {
    const file = join(tmpdir(), `pb-config-${process.pid}.yaml`);
    writeFileSync(file, 'connectors:\n  - configId: FROMFILE\n    type: api\n    url: http://from-file.local\n');
    const registry = await startRegistry('pglite', { PATCHBAY_CONFIG_FILE: file });
    try {
      const read = await api(registry.url, 'GET', '/v1/connectors/FROMFILE');
      expect(read.body.url).toBe('http://from-file.local');
      const history = await api(registry.url, 'GET', '/v1/connectors/FROMFILE/history');
      expect(history.body.revisions[0].actor).toBe('config-file');
    } finally {
      await registry.stop();
    }
  });

  it('refuses to start on a bad config file, naming the entry and field', async () => {
    const file = join(tmpdir(), `pb-bad-config-${process.pid}.yaml`);
    writeFileSync(file, 'connectors:\n  - configId: GOOD\n    type: api\n  - configId: BROKEN\n    type: llm\n    options: {models: 5}\n');
    await expect(startRegistry('pglite', { PATCHBAY_CONFIG_FILE: file })).rejects.toThrow(/BROKEN[\s\S]*models/);
  });
});
