import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  TEST_ADMIN_TOKEN,
  api,
  createTestDatabase,
  dropSchema,
  eventually,
  freePort,
  startService,
  testDatabaseUrl,
  testRedisUrl,
  uniquePrefix,
  uniqueSchema,
  type ServiceHandle,
  type TestDatabase,
} from '@patchbay/testkit';

const BIN = join(__dirname, '..', 'bin', 'patchbay.js');
const workdir = mkdtempSync(join(tmpdir(), 'pb-cli-'));
let registry: ServiceHandle;
let dbBroker: ServiceHandle;
let database: TestDatabase;
let schema: string;
let closedPort: number;
let busPrefix: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    PATCHBAY_REGISTRY_URL: registry.url,
    PATCHBAY_TOKEN: TEST_ADMIN_TOKEN,
    ...extra,
  };
}

/** Runs the real bin as a user would, in a directory without .patchbay/. */
function patchbay(args: string[], extra: Record<string, string> = {}, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: workdir, env: env(extra) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function file(name: string, text: string): string {
  const path = join(workdir, name);
  writeFileSync(path, text);
  return path;
}

beforeAll(async () => {
  schema = uniqueSchema('pbcli');
  busPrefix = uniquePrefix();
  database = await createTestDatabase('pbcli');
  registry = await startService('config-registry', {
    timeoutMs: 60_000,
    env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: busPrefix },
  });
  dbBroker = await startService('db-broker', {
    timeoutMs: 60_000,
    env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: busPrefix, PATCHBAY_DEMO_PGLITE_PORT: undefined },
  });
  closedPort = await freePort();
}, 120_000);

afterAll(async () => {
  await dbBroker?.stop();
  await registry?.stop();
  await dropSchema(schema);
  await database?.drop();
});

describe('patchbay connectors', () => {
  it('puts, lists, gets, shows history, rolls back and removes a connector', async () => {
    const created = await patchbay([
      'connectors',
      'put',
      'LLM',
      '--data',
      '{"type":"llm","url":"https://a.example.com/v1","credentials":{"apiKey":"sk-cli-secret"},"options":{"models":["m1"]}}',
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toMatch(/^created LLM \(revision \d+\)/);
    const yaml = file('llm.yaml', 'type: llm\nurl: https://b.example.com/v1\noptions: {models: [m1, m2]}\n');
    expect((await patchbay(['connectors', 'put', 'LLM', '-f', yaml])).stdout).toMatch(/^updated LLM/);
    expect(
      (await patchbay(['connectors', 'put', 'LLM', '-f', '-'], {}, 'type: llm\nurl: https://b.example.com/v1\noptions: {models: [m1, m2]}\n')).stdout,
    ).toMatch(/^unchanged LLM/);

    const ls = await patchbay(['connectors', 'ls']);
    expect(ls.stdout).toMatch(/CONFIG_ID\s+TYPE\s+REVISION\s+URL\nLLM\s+llm\s+\d+\s+https:\/\/b\.example\.com\/v1/);
    const json = JSON.parse((await patchbay(['connectors', 'ls', '--json', '--type', 'llm'])).stdout) as { items: Array<{ configId: string }> };
    expect(json.items.map((c) => c.configId)).toEqual(['LLM']);

    const got = JSON.parse((await patchbay(['connectors', 'get', 'LLM', '--json'])).stdout) as { credentialsSet: string[]; url: string };
    expect(got).toMatchObject({ url: 'https://b.example.com/v1', credentialsSet: ['apiKey'] });
    expect(JSON.stringify(got)).not.toContain('sk-cli-secret');

    const history = JSON.parse((await patchbay(['connectors', 'history', 'LLM', '--json'])).stdout) as { revisions: Array<{ revision: number }> };
    expect(history.revisions).toHaveLength(2);
    const firstRevision = history.revisions[1]!.revision;
    expect((await patchbay(['connectors', 'history', 'LLM'])).stdout).toMatch(/REVISION\s+ACTION\s+ACTOR\s+AT\s+CHANGED\n\d+\s+upsert\s+admin/);
    const rolled = await patchbay(['connectors', 'rollback', 'LLM', String(firstRevision)]);
    expect(rolled.stdout).toMatch(new RegExp(`^rolled LLM back to revision ${firstRevision} \\(now revision \\d+\\)`));
    expect((await patchbay(['resolve', 'LLM', '--json'])).stdout).toContain('https://a.example.com/v1');
    expect((await patchbay(['connectors', 'history', 'LLM'])).stdout).toMatch(
      new RegExp(`\\n\\d+\\s+upsert\\s+admin\\s+\\S+\\s+rollback to ${firstRevision}: url, options\\n`),
    );

    expect((await patchbay(['connectors', 'rm', 'LLM'])).stdout).toMatch(/^deleted LLM/);
    expect((await patchbay(['connectors', 'get', 'LLM'])).code).toBe(3);
  });

  it('exits with codes a script can use, and says what is wrong', async () => {
    const invalid = await patchbay(['connectors', 'put', 'BAD', '--data', '{"type":"llm","options":{"priority":"high"}}']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('[VALIDATION]');
    // Each bad field on its own line, as the registry named it.
    expect(invalid.stderr).toMatch(/\n {2}options\.priority: /);

    const missing = await patchbay(['connectors', 'get', 'NOPE']);
    expect(missing).toMatchObject({ code: 3, stdout: '' });
    expect(missing.stderr).toBe("patchbay: connector 'NOPE' was not found [NOT_FOUND]\n");

    const json = await patchbay(['connectors', 'get', 'NOPE', '--json']);
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'NOT_FOUND', message: "connector 'NOPE' was not found" } });

    const wrongToken = await patchbay(['connectors', 'ls'], { PATCHBAY_TOKEN: 'not-a-token' });
    expect(wrongToken.code).toBe(4);
    expect(wrongToken.stderr).toContain('token from PATCHBAY_TOKEN');

    const noToken = await patchbay(['resolve', 'X'], { PATCHBAY_TOKEN: '' });
    expect(noToken.code).toBe(4);
    expect(noToken.stderr).toContain('set PATCHBAY_TOKEN');

    const down = await patchbay(['connectors', 'ls'], { PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${closedPort}` });
    expect(down.code).toBe(5);
    expect(down.stderr).toBe(`patchbay: registry unreachable at http://127.0.0.1:${closedPort} [UPSTREAM_UNAVAILABLE]\n`);

    expect((await patchbay(['connectors', 'frobnicate'])).code).toBe(2);
    expect((await patchbay(['connectors', 'ls', '--colour'])).stderr).toMatch(/Unknown option '--colour'/);
    expect((await patchbay(['connectors', 'rollback', 'X', 'latest'])).stderr).toContain('REVISION must be a revision number');
    expect((await patchbay(['apply', '-f', join(workdir, 'missing.yaml')])).stderr).toContain('cannot read');
    expect((await patchbay([])).code).toBe(2);
    expect((await patchbay(['--help'])).code).toBe(0);
  });
});

describe('patchbay apply', () => {
  it('shows a diff with --dry-run and writes nothing, then applies it atomically', async () => {
    await patchbay(['connectors', 'put', 'KEEP', '--data', '{"type":"api","url":"https://keep.example.com"}']);
    await patchbay(['connectors', 'put', 'OLD', '--data', '{"type":"api","url":"https://old.example.com","options":{"timeoutMs":1000}}']);
    const doc = file(
      'fleet.yaml',
      [
        'connectors:',
        '  KEEP: {type: api, url: "https://keep.example.com"}',
        '  OLD: {type: api, url: "https://new.example.com", options: {timeoutMs: 2000}}',
        '  FRESH: {type: llm, url: "https://llm.example.com/v1", credentials: {apiKey: sk-fresh}, options: {models: [m]}}',
      ].join('\n'),
    );
    const dry = await patchbay(['apply', '-f', doc, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('= KEEP (unchanged)');
    expect(dry.stdout).toContain('~ OLD (update)\n    ~ options.timeoutMs: 1000 -> 2000\n    ~ url: "https://old.example.com" -> "https://new.example.com"\n');
    expect(dry.stdout).toContain('+ FRESH (create)');
    expect(dry.stdout).toContain('+ credentials.apiKey: set');
    expect(dry.stdout).not.toContain('sk-fresh');
    expect(dry.stdout).toContain('dry run: 1 to create, 1 to update, 0 to delete, 1 unchanged; nothing written');
    expect((await patchbay(['connectors', 'get', 'FRESH'])).code).toBe(3);

    const applied = await patchbay(['apply', '-f', doc, '--json']);
    const result = JSON.parse(applied.stdout) as { results: Array<{ configId: string; action: string }> };
    expect(Object.fromEntries(result.results.map((r) => [r.configId, r.action]))).toEqual({ KEEP: 'unchanged', OLD: 'updated', FRESH: 'created' });
    // The registry compares write-only secrets by fingerprint: the same key is no change...
    const again = await patchbay(['apply', '-f', doc, '--dry-run']);
    expect(again.stdout).not.toContain('credentials.apiKey');
    expect(again.stdout).toContain('0 to create, 0 to update, 0 to delete, 3 unchanged');
    // ...and a new one is, shown without its value.
    const rotated = await patchbay(['apply', '-f', file('rotated.yaml', readFileSync(doc, 'utf8').replace('sk-fresh', 'sk-rotated')), '--dry-run', '--json']);
    const plan = JSON.parse(rotated.stdout) as { dryRun: boolean; results: Array<{ configId: string; action: string; credentialsChanged: string[] }> };
    expect(plan.dryRun).toBe(true);
    expect(plan.results.find((r) => r.configId === 'FRESH')).toMatchObject({ action: 'updated', credentialsChanged: ['apiKey'] });
    expect(rotated.stdout).not.toContain('sk-rotated');
    const rotatedText = await patchbay(['apply', '-f', file('rotated2.yaml', readFileSync(doc, 'utf8').replace('sk-fresh', 'sk-rotated')), '--dry-run']);
    expect(rotatedText.stdout).toContain('~ FRESH (update)\n    ~ credentials.apiKey: changed');

    // A dry run is checked by the registry: what only it can validate fails before anything is written.
    const invalid = await patchbay([
      'apply',
      '-f',
      file('invalid.yaml', 'connectors:\n  SLOW: {type: api, url: "https://s.example.com", options: {timeoutMs: soon}}\n'),
      '--dry-run',
    ]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/timeoutMs/);

    const bad = await patchbay(['apply', '-f', file('bad.yaml', 'connectors:\n  A: {type: api, url: "https://a.example.com"}\n  B: {type: nope}\n')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/B/);
    expect((await patchbay(['connectors', 'get', 'A'])).code).toBe(3);
  });
});

describe('patchbay resolve, watch and status', () => {
  it('resolves with secrets hidden unless asked', async () => {
    await patchbay(['connectors', 'put', 'SECRETIVE', '--data', '{"type":"api","url":"https://s.example.com","credentials":{"apiKey":"sk-hidden-42"}}']);
    const hidden = await patchbay(['resolve', 'SECRETIVE']);
    expect(hidden.stdout).toContain('https://s.example.com');
    expect(hidden.stdout).toContain('Authorization: Bearer ***');
    expect(hidden.stdout).not.toContain('sk-hidden-42');
    expect((await patchbay(['resolve', 'SECRETIVE', '--show-secrets'])).stdout).toContain('Authorization: Bearer sk-hidden-42');
  });

  it('watches changes as NDJSON and stops cleanly on SIGINT', async () => {
    const head = (JSON.parse((await patchbay(['connectors', 'ls', '--json'])).stdout) as { head: number }).head;
    const child = spawn(process.execPath, [BIN, 'watch', '--json', '--since', String(head)], { cwd: workdir, env: env() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await patchbay(['connectors', 'put', 'WATCHED', '--data', '{"type":"api","url":"https://w.example.com"}']);
    await eventually(() => stdout.includes('"configId":"WATCHED"'), 20_000, 'the change on the watch');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const first = JSON.parse(stdout.split('\n')[0]!) as { configId: string; action: string; revision: number };
    expect(first).toMatchObject({ configId: 'WATCHED', action: 'upsert' });
    expect(stderr).toBe('');
  });

  it("reports every service's health and each connection's state and breaker; exit 6 when one is down", async () => {
    const target = new URL(database.url);
    await patchbay(['connectors', 'put', 'DATABASE', '--data', JSON.stringify({ type: 'database', url: target.toString() })]);
    const unreachable = `http://127.0.0.1:${closedPort}`;
    const brokers = {
      PATCHBAY_DB_BROKER_URL: dbBroker.url,
      PATCHBAY_LLM_PROXY_URL: unreachable,
      PATCHBAY_MCP_BROKER_URL: unreachable,
      PATCHBAY_API_BROKER_URL: unreachable,
    };
    const json = await eventually(
      async () => {
        const run = await patchbay(['status', '--json'], brokers);
        const body = JSON.parse(run.stdout) as {
          healthy: boolean;
          services: Array<{ name: string; health: string; connections?: Array<{ configId: string; state: string; breaker: string }> }>;
        };
        const db = body.services.find((s) => s.name === 'db-broker');
        return db?.connections?.some((c) => c.configId === 'DATABASE' && c.state === 'active') ? { run, body } : undefined;
      },
      30_000,
      'db-broker connection active',
    );
    expect(json.run.code).toBe(6);
    expect(json.body.healthy).toBe(false);
    expect(Object.fromEntries(json.body.services.map((s) => [s.name, s.health]))).toEqual({
      'config-registry': 'ready',
      'db-broker': 'ready',
      'llm-proxy': 'unreachable',
      'mcp-broker': 'unreachable',
      'api-broker': 'unreachable',
    });
    expect(json.body.services.find((s) => s.name === 'db-broker')?.connections).toEqual([
      expect.objectContaining({ configId: 'DATABASE', state: 'active', breaker: 'closed' }),
    ]);
    const human = await patchbay(['status'], brokers);
    expect(human.stdout).toMatch(/db-broker\s+ready\n\s+DATABASE\s+active\s+closed/);
    expect(human.stdout).toMatch(/llm-proxy\s+unreachable/);
  });

  it("reads the llm-proxy's nested breaker figures and shows an operator's forced-open breaker", async () => {
    await patchbay([
      'connectors',
      'put',
      'LLM',
      '--data',
      JSON.stringify({ type: 'llm', url: `http://127.0.0.1:${closedPort}/v1`, options: { models: ['m'] } }),
    ]);
    const llmProxy = await startService('llm-proxy', {
      timeoutMs: 60_000,
      env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: busPrefix },
    });
    try {
      await eventually(async () => (await api(llmProxy.url, 'GET', '/v1/upstreams/LLM')).status === 200, 30_000, 'llm-proxy knows LLM');
      const forced = await api(llmProxy.url, 'POST', '/v1/upstreams/LLM/breaker', { body: { action: 'open' } });
      expect(forced.status).toBe(200);
      const brokers = { PATCHBAY_DB_BROKER_URL: dbBroker.url, PATCHBAY_LLM_PROXY_URL: llmProxy.url };
      const run = await patchbay(['status', '--json'], brokers);
      const body = JSON.parse(run.stdout) as { services: Array<{ name: string; connections?: Array<{ configId: string; breaker?: string }> }> };
      const llm = body.services.find((s) => s.name === 'llm-proxy')?.connections ?? [];
      expect(llm.find((c) => c.configId === 'LLM')).toMatchObject({ breaker: 'forced_open' });
      expect(llm.filter((c) => c.configId !== 'LLM').map((c) => c.breaker)).not.toContain('forced_open');
      expect((await patchbay(['status'], brokers)).stdout).toMatch(/\n\s+LLM\s+\S+\s+forced_open\n/);
    } finally {
      await llmProxy.stop();
      await patchbay(['connectors', 'rm', 'LLM']);
    }
  });
});
