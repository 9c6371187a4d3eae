import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { BreakerState, Channel, EventType, type BreakerChangedData, type Envelope } from '@patchbay/core';
import { RedisBus } from '@patchbay/core/redis';
import {
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
import { mcpClient, PROBE, putConnector, serverStatus, textOf, waitAllActive } from './support';

jest.setTimeout(60_000);

/** Breakers here open on one failure and would stay open for ten minutes on their own. */
describe('mcp-broker recovery: breakers after a reconnect or a restart', () => {
  const tag = `pbmcprec${randomSuffix()}`;
  const schema = uniqueSchema();
  const prefix = uniquePrefix();
  let registry: ServiceHandle;
  let broker: ServiceHandle;
  let bus: RedisBus;
  let client: Client;
  const breakerEvents: Envelope<BreakerChangedData>[] = [];

  const put = (configId: string, body: unknown): Promise<void> => putConnector(registry.url, configId, body);
  const opened = (name: string): boolean => breakerEvents.some((e) => e.data.name === name && e.data.to === BreakerState.OPEN);

  beforeAll(async () => {
    bus = new RedisBus({ url: testRedisUrl(), prefix });
    await bus.subscribe(Channel.STATE, (envelope) => {
      if (envelope.type === EventType.BREAKER_CHANGED) breakerEvents.push(envelope as Envelope<BreakerChangedData>);
    });
    registry = await startService('config-registry', {
      env: { PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema, PATCHBAY_REDIS_URL: testRedisUrl(), PATCHBAY_BUS_PREFIX: prefix },
    });
    await put('probes', {
      type: 'agent_tool',
      options: { transport: 'stdio' },
      members: [
        { id: 'crashy', options: { command: 'node', args: [PROBE, tag] } },
        { id: 'slow', options: { command: 'node', args: [PROBE, tag], timeoutMs: 300 } },
      ],
    });
    broker = await startService('mcp-broker', {
      env: {
        PATCHBAY_REGISTRY_URL: registry.url,
        PATCHBAY_REDIS_URL: testRedisUrl(),
        PATCHBAY_BUS_PREFIX: prefix,
        PATCHBAY_MCP_BREAKER_FAILURES: '1',
        PATCHBAY_MCP_BREAKER_RECOVERY_MS: '600000',
        PATCHBAY_MCP_HEALTH_INTERVAL_MS: '500',
        PATCHBAY_MCP_RETRY_INITIAL_MS: '200',
        PATCHBAY_MCP_RETRY_MAX_MS: '1000',
      },
    });
    await waitAllActive(broker.url, 2);
    client = await mcpClient(broker.url);
  }, 120_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await broker?.stop();
    await registry?.stop();
    await bus?.close();
    await dropSchema(schema).catch(() => undefined);
  });

  it('lets calls through as soon as a crashed stdio server is back', async () => {
    const before = await serverStatus(broker.url, 'crashy');
    const pid = before.pids[0] as number;
    const inFlight = client.callTool({ name: 'crashy__wait', arguments: { ms: 60_000 } }).catch((e: unknown) => e);
    await eventually(
      async () => {
        const stats = JSON.parse(textOf(await client.callTool({ name: 'crashy__stats', arguments: {} }))) as { started: number };
        return stats.started > 0;
      },
      15_000,
      'the long call reached the server',
    );
    process.kill(pid, 'SIGKILL');
    // The call lost with the process is a failure: with one allowed, the breaker opens.
    expect(await inFlight).toBeInstanceOf(McpError);
    await eventually(() => opened('crashy'), 15_000, 'crashy breaker open');

    await eventually(
      async () => {
        const s = await serverStatus(broker.url, 'crashy');
        return s.state === 'active' && s.pids.length === 1 && s.pids[0] !== pid;
      },
      30_000,
      'crashy active again',
    );
    const rest = await api(broker.url, 'POST', '/v1/tools/crashy__increment/call', { body: { arguments: {} } });
    expect(rest.status).toBe(200);
    expect(textOf(await client.callTool({ name: 'crashy__increment', arguments: {} }))).toBe('2');
    expect((await serverStatus(broker.url, 'crashy')).breaker).toBe('closed');
  });

  it('closes an open breaker on an admin restart', async () => {
    // Timeouts open the breaker while the server itself stays active.
    const timedOut = await client.callTool({ name: 'slow__wait', arguments: { ms: 10_000 } }).catch((e: unknown) => e);
    expect(timedOut).toMatchObject({ code: -32001 });
    await eventually(() => opened('slow'), 15_000, 'slow breaker open');
    const rejected = await api(broker.url, 'POST', '/v1/tools/slow__stats/call', { body: { arguments: {} } });
    expect(rejected.status).toBe(503);
    expect(rejected.body).toMatchObject({ code: 'CIRCUIT_OPEN' });
    expect(rejected.headers.get('retry-after')).toBeTruthy();

    const restarted = await api<{ breaker: string }>(broker.url, 'POST', '/v1/servers/slow/restart');
    expect(restarted.status).toBe(202);
    expect(restarted.body.breaker).toBe('closed');
    await eventually(async () => (await serverStatus(broker.url, 'slow')).state === 'active', 30_000, 'slow active again');
    const call = await api(broker.url, 'POST', '/v1/tools/slow__stats/call', { body: { arguments: {} } });
    expect(call.status).toBe(200);
  });
});
