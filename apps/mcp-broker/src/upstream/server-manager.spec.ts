import { join } from 'node:path';
import { Channel, ConnectionState, EventType, InMemoryBus, type ConnectionStateData, type Envelope, type ResolvedConnector } from '@patchbay/core';
import { eventually } from '@patchbay/testkit';
import pino from 'pino';
import { ServerManager } from './server-manager';
import type { UpstreamSettings } from './agent-tool-driver';

const PROBE = join(__dirname, '..', '..', 'test', 'fixtures', 'probe-server.cjs');

const settings: UpstreamSettings = {
  connectTimeoutMs: 15_000,
  healthIntervalMs: 0,
  healthTimeoutMs: 2000,
  maxRetries: 1,
  retryInitialMs: 50,
  retryMaxMs: 200,
  breakerFailures: 5,
  breakerRecoveryMs: 1000,
  drainTimeoutMs: 10_000,
};

function probe(configId: string, revision: number, extraArgs: string[] = [], members?: ResolvedConnector['members']): ResolvedConnector {
  const connector: ResolvedConnector = {
    configId,
    type: 'agent_tool',
    revision,
    checksum: String(revision),
    mode: 'local',
    url: null,
    source: 'explicit',
    headers: {},
    options: { transport: 'stdio', command: 'node', args: [PROBE, ...extraArgs] },
  };
  if (members) connector.members = members;
  return connector;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function text(result: unknown): string {
  return (result as { content: { text: string }[] }).content[0]?.text ?? '';
}

describe('ServerManager', () => {
  let manager: ServerManager;
  let bus: InMemoryBus;
  const events: Envelope<ConnectionStateData>[] = [];

  beforeEach(async () => {
    events.length = 0;
    bus = new InMemoryBus();
    await bus.subscribe(Channel.STATE, (e) => {
      if (e.type === EventType.CONNECTION_STATE) events.push(e as Envelope<ConnectionStateData>);
    });
    manager = new ServerManager({
      settings,
      defaults: { workdir: __dirname, dataDir: '.patchbay', callTimeoutMs: 0 },
      bus,
      source: { service: 'mcp-broker', instance: 'test' },
      logger: pino({ level: 'silent' }),
    });
  });
  afterEach(async () => {
    await manager.close();
    await bus.close();
  });

  it('aggregates namespaced tools, publishes states and announces catalog changes', async () => {
    let changes = 0;
    manager.on('catalog', () => changes++);
    manager.upsert(probe('alpha', 1));
    await eventually(() => manager.catalog.toolRoutes.has('alpha__wait'), 15_000, 'alpha tools');
    expect(changes).toBeGreaterThan(0);
    expect(events.map((e) => [e.data.name, e.data.to])).toEqual([
      ['alpha', 'connecting'],
      ['alpha', 'active'],
    ]);
    expect(events[0]?.source).toEqual({ service: 'mcp-broker', instance: 'test' });

    const before = changes;
    manager.delete('alpha');
    await eventually(() => manager.catalog.tools.length === 0, 10_000, 'tools gone');
    expect(changes).toBeGreaterThan(before);
    expect(manager.get('alpha')).toBeUndefined();
  });

  it('swaps a changed server without failing the call in flight', async () => {
    manager.upsert(probe('alpha', 1, ['v1']));
    await eventually(() => manager.get('alpha')?.state === ConnectionState.ACTIVE, 15_000, 'alpha active');
    const server = manager.get('alpha');
    const pidNow = async (): Promise<number> => JSON.parse(text(await server?.callTool('stats', {}))).pid as number;
    const oldPid = await pidNow();
    const inFlight = server?.callTool('wait', { ms: 1500 });

    manager.upsert(probe('alpha', 2, ['v2']));
    // The old process keeps serving (its tools stay listed) until its replacement is up.
    await Promise.resolve();
    expect(manager.catalog.toolRoutes.has('alpha__wait')).toBe(true);
    await eventually(async () => manager.get('alpha')?.state === ConnectionState.ACTIVE && (await pidNow()) !== oldPid, 15_000, 'swapped');
    expect(text(await inFlight)).toBe('waited 1500 ms');
    await eventually(() => !alive(oldPid), 10_000, 'old process gone');
  });

  it('runs array members as separate servers and reports members that cannot run', async () => {
    manager.upsert(
      probe(
        'team',
        1,
        [],
        [
          { id: 'one', url: null, source: 'explicit', transport: 'stdio', headers: {} },
          { id: 'two', url: null, source: 'explicit', transport: 'stdio', headers: {}, options: { lifecycle: 'per-call' } },
          { id: 'broken', url: null, source: 'none', transport: 'streamable-http', headers: {} },
        ],
      ),
    );
    await eventually(() => manager.catalog.toolRoutes.has('one__wait') && manager.catalog.toolRoutes.has('two__wait'), 15_000, 'members');
    expect(manager.statuses().find((s) => s.id === 'broken')).toMatchObject({ state: 'invalid', message: expect.stringContaining('no url') });
    expect(manager.get('two')?.spec.lifecycle).toBe('per-call');

    manager.upsert(probe('team', 2, [], [{ id: 'one', url: null, source: 'explicit', transport: 'stdio', headers: {} }]));
    await eventually(() => !manager.catalog.toolRoutes.has('two__wait'), 10_000, 'member removed');
    expect(manager.get('two')).toBeUndefined();
    expect(manager.statuses().map((s) => s.id)).toEqual(['one']);
  });
});
