import { join } from 'node:path';
import { ConnectionState, InMemoryBus, type ResolvedConnector } from '@patchbay/core';
import { eventually } from '@patchbay/testkit';
import pino from 'pino';
import type { UpstreamSettings } from '../../src/upstream/agent-tool-driver';
import type { ServerStatus } from '../../src/upstream/server-history';
import { ServerManager } from '../../src/upstream/server-manager';
import type { UpstreamServer } from '../../src/upstream/upstream-server';

export const PROBE = join(__dirname, '..', 'fixtures', 'probe-server.cjs');

export const TEST_SETTINGS: UpstreamSettings = {
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

/** An `agent_tool` connector as the registry resolves it. */
export function agentTool(configId: string, options: Record<string, unknown>, url: string | null = null, revision = 1): ResolvedConnector {
  return { configId, type: 'agent_tool', revision, checksum: String(revision), mode: 'local', url, source: url ? 'explicit' : 'none', headers: {}, options };
}

/** A manager of its own (no registry: connectors are applied by hand), closed by `closeAll`. */
export function createManager(overrides: Partial<UpstreamSettings> = {}, bus = new InMemoryBus()): ServerManager {
  return new ServerManager({
    settings: { ...TEST_SETTINGS, ...overrides },
    defaults: { workdir: __dirname, dataDir: '.patchbay', callTimeoutMs: 0 },
    bus,
    source: { service: 'mcp-broker', instance: 'test' },
    logger: pino({ level: 'silent' }),
  });
}

const SETTLED = new Set<ConnectionState>([ConnectionState.ACTIVE, ConnectionState.DEAD, ConnectionState.CLOSED]);

/** Waits until the server is active, dead or closed, and returns it. */
export async function settled(manager: ServerManager, id: string, timeoutMs = 20_000): Promise<UpstreamServer> {
  return eventually(
    () => {
      const server = manager.get(id);
      return server && SETTLED.has(server.state) ? server : undefined;
    },
    timeoutMs,
    `${id} settled`,
  );
}

export function statusOf(manager: ServerManager, id: string): ServerStatus {
  const status = manager.statuses().find((s): s is ServerStatus => s.id === id && 'tools' in s);
  if (!status) throw new Error(`no status for ${id}`);
  return status;
}

export function text(result: unknown): string {
  return (result as { content: { text: string }[] }).content[0]?.text ?? '';
}
