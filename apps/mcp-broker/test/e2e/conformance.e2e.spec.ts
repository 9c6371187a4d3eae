import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
import { putConnector, waitAllActive } from './support';

jest.setTimeout(120_000);

// The suite's CLI (its package exports nothing to import).
const CONFORMANCE = join(dirname(require.resolve('@modelcontextprotocol/conformance/package.json')), 'dist', 'index.js');
const FIXTURE = join(__dirname, '..', 'fixtures', 'conformance-server.cjs');

/** Every server scenario the suite lists (`conformance list --server`), so a new one is run too. */
const SCENARIOS = execFileSync(process.execPath, [CONFORMANCE, 'list', '--server'], { encoding: 'utf8' })
  .split('\n')
  .map((line) => /^\s+- (\S+)$/.exec(line)?.[1])
  .filter((name): name is string => name !== undefined);

interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO';
  description: string;
  errorMessage?: string;
  details?: Record<string, unknown>;
}

/**
 * Warnings accepted, by scenario and check id. Only `server-sse-polling` has any: it is
 * pending in this release of the suite (not in its active set), and both are SHOULDs of
 * SEP-1699 resumability that the broker does not offer yet: a priming event (an id with
 * empty data) first on a POST's SSE stream, and a `retry` field. (The scenario's raw POST
 * says `mcp-protocol-version: 2025-03-26`, for which the SDK's transport sends no priming
 * event even with an event store.) Everything else must be SUCCESS or INFO.
 */
const ACCEPTED_WARNINGS: Record<string, string[]> = {
  'server-sse-polling': ['server-sse-priming-event', 'server-sse-retry-field'],
};

/**
 * What a scenario reports only as INFO but these tests still require. `server-sse-polling`
 * records the tool's answer as INFO, and without a priming event it has nothing else to
 * check: test_reconnection's answer must still come back on the POST stream.
 */
function required(scenario: string, checks: Check[]): string[] {
  if (scenario !== 'server-sse-polling') return [];
  const closed = checks.find((c) => c.id === 'stream-closed');
  return closed?.details?.['receivedToolResponse'] === true ? [] : ['test_reconnection answered on the POST stream'];
}

/** Runs one scenario and returns the checks it recorded (from the `checks.json` it writes). */
function runScenario(url: string, scenario: string): Promise<{ code: number | null; checks: Check[]; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-conformance-'));
  return new Promise((resolve) => {
    execFile(process.execPath, [CONFORMANCE, 'server', '--url', url, '--scenario', scenario, '-o', dir], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      // One run writes one `<scenario>-<time>/checks.json`.
      const [result] = readdirSync(dir).map((name) => join(dir, name, 'checks.json'));
      const checks = result === undefined ? [] : (JSON.parse(readFileSync(result, 'utf8')) as Check[]);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, checks, output: `${stdout}${stderr}` });
    });
  });
}

describe('mcp-broker passes the MCP conformance suite’s protocol scenarios', () => {
  const tag = `pbmcpconf${randomSuffix()}`;
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  let registry: ServiceHandle;
  let broker: ServiceHandle;
  let proxy: Awaited<ReturnType<typeof startAuthProxy>>;

  beforeAll(async () => {
    registry = await startService('config-registry', {
      env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await putConnector(registry.url, 'fixture', { type: 'agent_tool', options: { transport: 'stdio', command: 'node', args: [FIXTURE, tag] } });
    await putConnector(registry.url, 'conformance', { type: 'agent_tool', options: { transport: 'virtual', select: ['fixture__*'], stripPrefix: true } });
    broker = await startService('mcp-broker', {
      env: { PATCHBAY_REGISTRY_URL: registry.url, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await waitAllActive(broker.url, 1);
    // The suite sends no token: this proxy adds one, as a gateway in front of the broker would.
    proxy = await startAuthProxy(broker.url, TEST_ADMIN_TOKEN);
  }, 120_000);

  afterAll(async () => {
    await proxy?.close();
    await broker?.stop();
    await registry?.stop();
    await dropSchema(schema).catch(() => undefined);
  });

  it('lists the server scenarios', () => {
    expect(SCENARIOS.length).toBeGreaterThanOrEqual(32);
    expect(SCENARIOS).toEqual(expect.arrayContaining(['server-initialize', 'tools-call-sampling', 'resources-subscribe', 'dns-rebinding-protection']));
  });

  it.each(SCENARIOS)('%s', async (scenario) => {
    const { code, checks, output } = await runScenario(`${proxy.url}/mcp/conformance`, scenario);
    const accepted = ACCEPTED_WARNINGS[scenario] ?? [];
    const judged = checks.filter((c) => c.status !== 'INFO');
    const problems = judged
      .filter((c) => c.status === 'FAILURE' || (c.status === 'WARNING' && !accepted.includes(c.id)))
      .map((c) => `${c.status} ${c.id}: ${c.errorMessage ?? c.description}`);
    const missing = required(scenario, checks);
    if (judged.length === 0) problems.push(`no checks judged; output: ${output.slice(-2000)}`);
    expect({ scenario, code, problems, missing }).toEqual({ scenario, code: 0, problems: [], missing: [] });
  });
});
