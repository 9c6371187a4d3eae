import { join } from 'node:path';
import { ConnectionState, ErrorCode } from '@patchbay/core';
import { eventually } from '@patchbay/testkit';
import type { ServerSpec } from './server-spec';
import { UpstreamServer, type UpstreamSettings } from './upstream-server';

const PROBE = join(__dirname, '..', '..', 'test', 'fixtures', 'probe-server.cjs');

const settings: UpstreamSettings = {
  connectTimeoutMs: 15_000,
  healthIntervalMs: 0,
  healthTimeoutMs: 2000,
  maxRetries: 2,
  retryInitialMs: 50,
  retryMaxMs: 200,
  breakerFailures: 5,
  breakerRecoveryMs: 1000,
  drainTimeoutMs: 2000,
};

function probeSpec(overrides: Partial<ServerSpec> = {}): ServerSpec {
  return {
    id: 'probe',
    configId: 'probe',
    revision: 1,
    transport: 'stdio',
    command: process.execPath,
    args: [PROBE],
    env: {},
    cwd: __dirname,
    headers: {},
    lifecycle: 'persistent',
    poolSize: 1,
    stateful: false,
    timeoutMs: 0,
    fingerprint: 'f',
    ...overrides,
  };
}

function text(result: unknown): string {
  const content = (result as { content: { text: string }[] }).content;
  return content[0]?.text ?? '';
}

async function pidOf(server: UpstreamServer, sessionKey?: string): Promise<number> {
  const stats = JSON.parse(text(await server.callTool('stats', {}, sessionKey === undefined ? {} : { sessionKey }))) as { pid: number };
  return stats.pid;
}

describe('UpstreamServer', () => {
  const servers: UpstreamServer[] = [];
  const start = (spec: ServerSpec, overrides: Partial<UpstreamSettings> = {}): UpstreamServer => {
    const server = new UpstreamServer(spec, { ...settings, ...overrides });
    servers.push(server);
    server.start();
    return server;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('connects, lists tools, and after its process is killed goes retrying -> active with a new process', async () => {
    const server = start(probeSpec());
    expect(await server.settled(20_000)).toBe(ConnectionState.ACTIVE);
    expect(server.catalog.tools.map((t) => t.name).sort()).toEqual(['increment', 'stats', 'wait']);
    const firstPid = await pidOf(server);

    process.kill(firstPid, 'SIGKILL');
    await eventually(() => server.status().transitions.some((t) => t.to === ConnectionState.RETRYING), 10_000, 'retrying');
    await eventually(() => server.state === ConnectionState.ACTIVE && server.status().pids.length === 1, 20_000, 'active again');
    const secondPid = await pidOf(server);
    expect(secondPid).not.toBe(firstPid);
    expect(server.status().restarts).toBe(1);
    expect(server.status().lastError).toMatch(/exited/);
  });

  it('is dead after the retry limit, and restart() tries again', async () => {
    const server = start(probeSpec({ command: process.execPath, args: ['-e', 'process.exit(3)'] }));
    expect(await server.settled(20_000)).toBe(ConnectionState.DEAD);
    const attempts = server.status().transitions.filter((t) => t.to === ConnectionState.CONNECTING).length;
    expect(attempts).toBe(settings.maxRetries + 1);
    await expect(server.callTool('stats', {})).rejects.toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE });

    await server.restart();
    await eventually(() => server.status().transitions.filter((t) => t.to === ConnectionState.CONNECTING).length > attempts, 10_000, 'reconnect');
    expect(await server.settled(20_000)).toBe(ConnectionState.DEAD);
  });

  it('per-call lifecycle: every call runs in a fresh process and none is kept', async () => {
    const server = start(probeSpec({ lifecycle: 'per-call' }));
    expect(await server.settled(20_000)).toBe(ConnectionState.ACTIVE);
    expect(server.status().sessions).toBe(0);
    const a = await pidOf(server);
    const b = await pidOf(server);
    expect(a).not.toBe(b);
  });

  it('spreads concurrent calls over a pool of sessions', async () => {
    const server = start(probeSpec({ poolSize: 3 }));
    expect(await server.settled(20_000)).toBe(ConnectionState.ACTIVE);
    expect(server.status().pids).toHaveLength(3);
    const pids = await Promise.all([1, 2, 3, 4, 5, 6].map(() => pidOf(server)));
    expect(new Set(pids).size).toBe(3);
  });

  it('binds each downstream session of a stateful server to its own upstream session', async () => {
    const server = start(probeSpec({ stateful: true }));
    expect(await server.settled(20_000)).toBe(ConnectionState.ACTIVE);
    const inc = async (key: string): Promise<string> => text(await server.callTool('increment', {}, { sessionKey: key }));
    expect(await inc('a')).toBe('1');
    expect(await inc('a')).toBe('2');
    expect(await inc('b')).toBe('1');
    expect(await pidOf(server, 'a')).not.toBe(await pidOf(server, 'b'));
    server.release('a');
    expect(await inc('a')).toBe('1');
  });

  it('fails a call that outlives the configured timeout with TIMEOUT', async () => {
    const server = start(probeSpec({ timeoutMs: 300 }));
    expect(await server.settled(20_000)).toBe(ConnectionState.ACTIVE);
    await expect(server.callTool('wait', { ms: 10_000 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(text(await server.callTool('wait', { ms: 1 }))).toBe('waited 1 ms');
  });

  it('opens its breaker after consecutive upstream failures and rejects fast while open', async () => {
    const server = new UpstreamServer(probeSpec({ timeoutMs: 200 }), { ...settings, breakerFailures: 2, breakerRecoveryMs: 60_000 });
    servers.push(server);
    const changes: string[] = [];
    server.on('breaker', (change) => changes.push(`${change.from}->${change.to}`));
    server.start();
    expect(await server.settled(20_000)).toBe(ConnectionState.ACTIVE);
    // A tool's own error result is an answer, not a failure of the upstream.
    await server.callTool('wait', { ms: -1 }).catch(() => undefined);
    await expect(server.callTool('wait', { ms: 5000 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    await expect(server.callTool('wait', { ms: 5000 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(changes).toEqual(['closed->open']);
    await expect(server.callTool('stats', {})).rejects.toMatchObject({ code: ErrorCode.CIRCUIT_OPEN });
    expect(server.status().breaker).toBe('open');
  });

  it('forwards cancellation to the upstream', async () => {
    const server = start(probeSpec());
    expect(await server.settled(20_000)).toBe(ConnectionState.ACTIVE);
    const controller = new AbortController();
    const call = server.callTool('wait', { ms: 60_000 }, { signal: controller.signal });
    await eventually(async () => JSON.parse(text(await server.callTool('stats', {}))).started === 1, 10_000, 'call started');
    controller.abort();
    await expect(call).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
    await eventually(async () => JSON.parse(text(await server.callTool('stats', {}))).cancelled === 1, 10_000, 'upstream saw the cancel');
  });
});
