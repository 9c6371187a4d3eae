import { testSettings } from '../../test/support/settings';
import { AttemptFailure, FailureKind } from './classify';
import { RetryPolicy } from './retry-policy';

const policy = new RetryPolicy(testSettings({ LLM_PROXY_RETRY_BASE_MS: 100, LLM_PROXY_RETRY_MAX_MS: 1000 }));
const failure = (kind: FailureKind): AttemptFailure => new AttemptFailure(kind, kind);

describe('RetryPolicy', () => {
  it('retries network errors, 5xx and bad responses on the same connector with growing, capped backoff', () => {
    for (const kind of [FailureKind.NETWORK, FailureKind.SERVER, FailureKind.BAD_RESPONSE]) {
      const first = policy.retryDelay(failure(kind), 1, 5, 30_000);
      expect(first).toBeGreaterThanOrEqual(50);
      expect(first).toBeLessThanOrEqual(100);
    }
    const third = policy.retryDelay(failure(FailureKind.SERVER), 3, 5, 30_000);
    expect(third).toBeGreaterThanOrEqual(200);
    expect(third).toBeLessThanOrEqual(400);
    expect(policy.retryDelay(failure(FailureKind.SERVER), 5, 5, 30_000)).toBeLessThanOrEqual(1000);
  });

  it('fails over instead: timeouts, auth and 429s, used-up retries, or a sleep past the deadline', () => {
    expect(policy.retryDelay(failure(FailureKind.TIMEOUT), 1, 5, 30_000)).toBeUndefined();
    expect(policy.retryDelay(failure(FailureKind.AUTH), 1, 5, 30_000)).toBeUndefined();
    expect(policy.retryDelay(failure(FailureKind.RATE_LIMITED), 1, 5, 30_000)).toBeUndefined();
    expect(policy.retryDelay(failure(FailureKind.SERVER), 2, 1, 30_000)).toBeUndefined();
    expect(policy.retryDelay(failure(FailureKind.SERVER), 1, 0, 30_000)).toBeUndefined();
    expect(policy.retryDelay(failure(FailureKind.SERVER), 1, 1, 40)).toBeUndefined();
  });

  it('waits out a short cool-down in place, never one past the wait limit or the deadline', () => {
    expect(policy.mayWaitOut(2000, 30_000)).toBe(true);
    expect(policy.mayWaitOut(2001, 30_000)).toBe(false);
    expect(policy.mayWaitOut(500, 500)).toBe(false);
    expect(policy.maxAttempts).toBe(6);
  });
});
