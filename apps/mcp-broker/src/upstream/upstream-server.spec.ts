import { ConnectionState, ErrorCode } from '@patchbay/core';
import { eventually } from '@patchbay/testkit';
import { PROBE, TEST_SETTINGS, agentTool, createManager, settled, statusOf, text } from '../../test/support/servers';
import type { UpstreamSettings } from './agent-tool-driver';
import type { ServerManager } from './server-manager';
import type { UpstreamServer } from './upstream-server';

async function pidOf(server: UpstreamServer, sessionKey?: string): Promise<number> {
  const stats = JSON.parse(text(await server.callTool('stats', {}, sessionKey === undefined ? {} : { sessionKey }))) as { pid: number };
  return stats.pid;
}

describe('UpstreamServer (on the broker runtime)', () => {
  const managers: ServerManager[] = [];
  /** One `probe` server with these connector options, on a manager of its own. */
  const start = (options: Record<string, unknown> = {}, overrides: Partial<UpstreamSettings> = {}): ServerManager => {
    const manager = createManager(overrides);
    managers.push(manager);
    manager.upsert(agentTool('probe', { transport: 'stdio', command: 'node', args: [PROBE], ...options }));
    return manager;
  };
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
  });

  it('connects, lists tools, and after its process is killed goes retrying -> active with a new process', async () => {
    const manager = start();
    const server = await settled(manager, 'probe');
    expect(server.state).toBe(ConnectionState.ACTIVE);
    expect(server.catalog.tools.map((t) => t.name).sort()).toEqual(['increment', 'stats', 'wait']);
    const firstPid = await pidOf(server);

    process.kill(firstPid, 'SIGKILL');
    await eventually(() => statusOf(manager, 'probe').transitions.some((t) => t.to === ConnectionState.RETRYING), 10_000, 'retrying');
    await eventually(
      () => {
        const status = statusOf(manager, 'probe');
        return status.state === ConnectionState.ACTIVE && status.pids.length === 1 && status.pids[0] !== firstPid;
      },
      20_000,
      'active again',
    );
    const secondPid = await pidOf(server);
    expect(secondPid).not.toBe(firstPid);
    expect(statusOf(manager, 'probe').restarts).toBe(1);
    expect(statusOf(manager, 'probe').lastError).toMatch(/exited/);
  });

  it('is dead after the retry limit, and restart() tries again', async () => {
    const manager = start({ args: ['-e', 'process.exit(3)'] });
    const server = await settled(manager, 'probe');
    expect(server.state).toBe(ConnectionState.DEAD);
    const attempts = TEST_SETTINGS.maxRetries + 1;
    const gaveUp = (): number => statusOf(manager, 'probe').transitions.filter((t) => t.to === ConnectionState.DEAD).length;
    expect(statusOf(manager, 'probe').transitions.at(-1)?.reason).toContain(`gave up after ${attempts} attempts`);
    await expect(server.callTool('stats', {})).rejects.toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE });

    manager.restart('probe');
    await eventually(() => statusOf(manager, 'probe').transitions.at(-1)?.reason === 'restart requested', 10_000, 'reconnect');
    await eventually(() => gaveUp() === 2, 20_000, 'dead again');
    expect(statusOf(manager, 'probe').restarts).toBe(1);
  });

  it('per-call lifecycle: every call runs in a fresh process and none is kept', async () => {
    const manager = start({ lifecycle: 'per-call' });
    const server = await settled(manager, 'probe');
    expect(server.state).toBe(ConnectionState.ACTIVE);
    expect(statusOf(manager, 'probe').sessions).toBe(0);
    const a = await pidOf(server);
    const b = await pidOf(server);
    expect(a).not.toBe(b);
  });

  it('spreads concurrent calls over a pool of sessions', async () => {
    const manager = start({ pool: 3 });
    const server = await settled(manager, 'probe');
    expect(server.state).toBe(ConnectionState.ACTIVE);
    expect(statusOf(manager, 'probe').pids).toHaveLength(3);
    const pids = await Promise.all([1, 2, 3, 4, 5, 6].map(() => pidOf(server)));
    expect(new Set(pids).size).toBe(3);
  });

  it('binds each downstream session of a stateful server to its own upstream session', async () => {
    const manager = start({ stateful: true });
    const server = await settled(manager, 'probe');
    expect(server.state).toBe(ConnectionState.ACTIVE);
    const inc = async (key: string): Promise<string> => text(await server.callTool('increment', {}, { sessionKey: key }));
    expect(await inc('a')).toBe('1');
    expect(await inc('a')).toBe('2');
    expect(await inc('b')).toBe('1');
    expect(await pidOf(server, 'a')).not.toBe(await pidOf(server, 'b'));
    server.release('a');
    expect(await inc('a')).toBe('1');
  });

  it('fails a call that outlives the configured timeout with TIMEOUT', async () => {
    const manager = start({ timeoutMs: 300 });
    const server = await settled(manager, 'probe');
    expect(server.state).toBe(ConnectionState.ACTIVE);
    await expect(server.callTool('wait', { ms: 10_000 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(text(await server.callTool('wait', { ms: 1 }))).toBe('waited 1 ms');
  });

  it('opens its breaker after consecutive upstream failures and rejects fast while open', async () => {
    const manager = start({ timeoutMs: 200 }, { breakerFailures: 2, breakerRecoveryMs: 60_000 });
    const changes: string[] = [];
    manager.broker.on('breaker', (_connection, change) => changes.push(`${change.from}->${change.to}`));
    const server = await settled(manager, 'probe');
    expect(server.state).toBe(ConnectionState.ACTIVE);
    // A tool's own error result is an answer, not a failure of the upstream.
    await server.callTool('wait', { ms: -1 }).catch(() => undefined);
    await expect(server.callTool('wait', { ms: 5000 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    await expect(server.callTool('wait', { ms: 5000 })).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(changes).toEqual(['closed->open']);
    await expect(server.callTool('stats', {})).rejects.toMatchObject({ code: ErrorCode.CIRCUIT_OPEN });
    expect(statusOf(manager, 'probe').breaker).toBe('open');
  });

  it('forwards cancellation to the upstream', async () => {
    const manager = start();
    const server = await settled(manager, 'probe');
    expect(server.state).toBe(ConnectionState.ACTIVE);
    const controller = new AbortController();
    const call = server.callTool('wait', { ms: 60_000 }, { signal: controller.signal });
    await eventually(async () => JSON.parse(text(await server.callTool('stats', {}))).started === 1, 10_000, 'call started');
    controller.abort();
    await expect(call).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
    await eventually(async () => JSON.parse(text(await server.callTool('stats', {}))).cancelled === 1, 10_000, 'upstream saw the cancel');
  });
});
