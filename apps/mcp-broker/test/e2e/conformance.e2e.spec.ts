import { execFile } from 'node:child_process';
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

/**
 * The protocol-level server scenarios of @modelcontextprotocol/conformance 0.1.12: the
 * lifecycle, utilities (ping, logging, completion, progress), listing, subscriptions,
 * server-to-client requests and origin checks. Left out: scenarios that only test the
 * reference server's own fixtures (image, audio and embedded content, JSON Schema keywords,
 * elicitation defaults and enums) and SSE stream resumption (SEP-1699).
 */
const SCENARIOS = [
  'server-initialize',
  'ping',
  'logging-set-level',
  'completion-complete',
  'tools-list',
  'tools-call-simple-text',
  'tools-call-with-logging',
  'tools-call-with-progress',
  'tools-call-sampling',
  'tools-call-elicitation',
  'resources-list',
  'resources-read-text',
  'resources-templates-read',
  'resources-subscribe',
  'resources-unsubscribe',
  'prompts-list',
  'prompts-get-simple',
  'prompts-get-with-args',
  'dns-rebinding-protection',
];

function runScenario(url: string, scenario: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CONFORMANCE, 'server', '--url', url, '--scenario', scenario], { timeout: 90_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}` });
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

  it.each(SCENARIOS)('%s', async (scenario) => {
    const { code, output } = await runScenario(`${proxy.url}/mcp/conformance`, scenario);
    expect({ scenario, code, failed: output.includes('FAILURE') || /✗|FAIL\b/.test(output) ? output : 'none' }).toEqual({ scenario, code: 0, failed: 'none' });
  });
});
