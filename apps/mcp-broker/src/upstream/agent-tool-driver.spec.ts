import { ErrorCode, PatchbayError } from '@patchbay/core';
import { AgentToolDriver, SessionLostError } from './agent-tool-driver';
import { ServerPlanner } from './server-planner';
import type { ServerSpec } from './server-spec';
import { TEST_SETTINGS } from '../../test/support/servers';

const driver = new AgentToolDriver(TEST_SETTINGS, new ServerPlanner({ workdir: '/srv', dataDir: '.patchbay', callTimeoutMs: 0 }), {
  catalog: () => undefined,
  lost: () => undefined,
  notification: () => undefined,
  peerCatalog: () => undefined,
  logLevel: () => undefined,
});

function spec(overrides: Partial<ServerSpec>): ServerSpec {
  return {
    id: 's',
    configId: 's',
    revision: 1,
    transport: 'stdio',
    args: [],
    env: {},
    cwd: '/srv',
    headers: {},
    lifecycle: 'persistent',
    poolSize: 1,
    stateful: false,
    timeoutMs: 0,
    fingerprint: 'f',
    ...overrides,
  };
}

describe('AgentToolDriver', () => {
  it('classifies: a lost session reconnects, an unreachable or slow server counts, the rest is the caller’s', () => {
    expect(driver.classify(new SessionLostError('server process exited'))).toBe('connection');
    expect(driver.classify(new Error('connect ECONNREFUSED'))).toBe('connection');
    expect(driver.classify(new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'down'))).toBe('failure');
    expect(driver.classify(new PatchbayError(ErrorCode.TIMEOUT, 'slow'))).toBe('failure');
    for (const code of [ErrorCode.VALIDATION, ErrorCode.NOT_FOUND, ErrorCode.UPSTREAM_ERROR, ErrorCode.CANCELLED]) {
      expect(driver.classify(new PatchbayError(code, 'x'))).toBe('caller');
    }
  });

  it('describes the target without credentials, headers or arguments', () => {
    const http = spec({ transport: 'streamable-http', url: 'https://user:secret@mcp.example.com/mcp?token=abc', headers: { authorization: 'Bearer k' } });
    expect(driver.describe(http)).toBe('streamable-http:https://mcp.example.com/mcp');
    expect(driver.describe(spec({ command: '/usr/bin/node', args: ['--key=secret'] }))).toBe('stdio:node');
  });

  it('takes its timing and breaker from the service settings', () => {
    expect(driver.settings()).toEqual({
      breakerFailures: TEST_SETTINGS.breakerFailures,
      breakerRecoveryMs: TEST_SETTINGS.breakerRecoveryMs,
      reconnectInitialMs: TEST_SETTINGS.retryInitialMs,
      reconnectMaxMs: TEST_SETTINGS.retryMaxMs,
      drainTimeoutMs: TEST_SETTINGS.drainTimeoutMs,
      healthIntervalMs: TEST_SETTINGS.healthIntervalMs,
      maxRetries: TEST_SETTINGS.maxRetries,
    });
  });
});
