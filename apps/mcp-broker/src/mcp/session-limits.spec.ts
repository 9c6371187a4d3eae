import { ErrorCode, isPatchbayError, type PatchbayError } from '@patchbay/core';
import { SessionLimits } from './session-limits';

function refusal(limits: SessionLimits, token: string, expiry?: number): PatchbayError | undefined {
  try {
    limits.admit(token, () => expiry);
    return undefined;
  } catch (error) {
    if (isPatchbayError(error)) return error;
    throw error;
  }
}

describe('session limits', () => {
  it('refuses a token over its own cap with RATE_LIMITED, others over the total with UNAVAILABLE', () => {
    const limits = new SessionLimits({ maxSessions: 3, maxSessionsPerToken: 2, idleMs: 300_000 });
    limits.opened('a');
    limits.opened('a');
    const own = refusal(limits, 'a', Date.now() + 90_000);
    expect(own?.code).toBe(ErrorCode.RATE_LIMITED);
    expect(own?.message).toContain('PATCHBAY_MCP_MAX_SESSIONS_PER_TOKEN');
    expect(own?.retryAfterSeconds).toBe(90);
    expect(refusal(limits, 'b')).toBeUndefined();
    limits.opened('b');
    const total = refusal(limits, 'b');
    expect(total?.code).toBe(ErrorCode.UNAVAILABLE);
    expect(total?.message).toContain('PATCHBAY_MCP_MAX_SESSIONS is 3');
    expect(total?.retryAfterSeconds).toBe(1);
  });

  it('makes room again when sessions close', () => {
    const limits = new SessionLimits({ maxSessions: 2, maxSessionsPerToken: 1, idleMs: 300_000 });
    limits.opened('a');
    expect(refusal(limits, 'a')).toBeDefined();
    limits.closed('a');
    expect(refusal(limits, 'a')).toBeUndefined();
  });
});
