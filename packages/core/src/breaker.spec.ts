import { CircuitBreaker, breakerChangedData } from './breaker';
import type { BreakerStateChange, CircuitBreakerOptions } from './breaker';
import { ErrorCode, PatchbayError } from './errors';
import { BreakerState } from './state';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const RECOVERY_MS = 10_000;

function consecutive(n: number, extra: Partial<CommonExtra> = {}): CircuitBreaker {
  return new CircuitBreaker({ name: 'openai', kind: 'llm-upstream', consecutiveFailures: n, recoveryTimeoutMs: RECOVERY_MS, ...extra });
}
type CommonExtra = Pick<CircuitBreakerOptions, 'isFailure' | 'recoveryTimeoutFor'>;

const boom = (message = 'boom'): Error => new Error(message);
const succeed = (breaker: CircuitBreaker): Promise<string> => breaker.execute(async () => 'ok');
/** Runs a failing call and returns what it rejected with. */
const fail = (breaker: CircuitBreaker, error: unknown = boom()): Promise<unknown> =>
  breaker
    .execute(async () => {
      throw error;
    })
    .then(
      () => {
        throw new Error('expected a rejection');
      },
      (rejection: unknown) => rejection,
    );

/** A call whose outcome the test decides later. */
function pendingCall(breaker: CircuitBreaker): { result: Promise<unknown>; resolve(): void; reject(e: unknown): void } {
  let resolve: (value: string) => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const inner = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const result = breaker.execute(() => inner).catch((error: unknown) => error);
  return { result, resolve: () => resolve('probe ok'), reject: (e) => reject(e) };
}

function recordChanges(breaker: CircuitBreaker): BreakerStateChange[] {
  const changes: BreakerStateChange[] = [];
  breaker.onStateChange((change) => changes.push(change));
  return changes;
}

describe('CircuitBreaker', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(T0);
  });
  afterEach(() => jest.useRealTimers());

  describe('consecutive failures', () => {
    it('opens after N failures in a row; a success in between resets the count', async () => {
      const breaker = consecutive(3);
      await fail(breaker);
      await fail(breaker);
      await succeed(breaker);
      await fail(breaker);
      await fail(breaker);
      expect(breaker.state).toBe(BreakerState.CLOSED);
      await fail(breaker);
      expect(breaker.state).toBe(BreakerState.OPEN);
      expect(breaker.retryAt).toEqual(new Date(T0 + RECOVERY_MS));
    });

    it('passes the failing error through unchanged', async () => {
      const error = boom('upstream said no');
      await expect(fail(consecutive(3), error)).resolves.toBe(error);
    });
  });

  it('rejects fast while open with CIRCUIT_OPEN and retryAfterSeconds, without calling fn', async () => {
    const breaker = consecutive(1);
    await fail(breaker);
    jest.advanceTimersByTime(2_500);

    const fn = jest.fn(async () => 'never');
    const error = await breaker.execute(fn).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(error).toBeInstanceOf(PatchbayError);
    expect(error).toMatchObject({ code: ErrorCode.CIRCUIT_OPEN, retryAfterSeconds: 8, status: 503 });
    expect(breaker.stats().rejections).toBe(1);
  });

  describe('half-open', () => {
    it('turns half-open exactly after the recovery timeout and lets one probe through; success closes', async () => {
      const breaker = consecutive(2);
      const changes = recordChanges(breaker);
      await fail(breaker);
      await fail(breaker);

      jest.advanceTimersByTime(RECOVERY_MS - 1);
      expect(breaker.state).toBe(BreakerState.OPEN);
      jest.advanceTimersByTime(1);
      expect(breaker.state).toBe(BreakerState.HALF_OPEN);

      const probe = pendingCall(breaker);
      const second = jest.fn(async () => 'should not run');
      await expect(breaker.execute(second)).rejects.toMatchObject({ code: ErrorCode.CIRCUIT_OPEN, retryAfterSeconds: 1 });
      expect(second).not.toHaveBeenCalled();

      probe.resolve();
      await expect(probe.result).resolves.toBe('probe ok');
      expect(breaker.state).toBe(BreakerState.CLOSED);
      await expect(succeed(breaker)).resolves.toBe('ok');

      expect(changes).toEqual([
        { from: BreakerState.CLOSED, to: BreakerState.OPEN, retryAt: new Date(T0 + RECOVERY_MS) },
        { from: BreakerState.OPEN, to: BreakerState.HALF_OPEN },
        { from: BreakerState.HALF_OPEN, to: BreakerState.CLOSED },
      ]);
    });

    it('a failed probe re-opens for another recovery period', async () => {
      const breaker = consecutive(1);
      const changes = recordChanges(breaker);
      await fail(breaker);
      jest.advanceTimersByTime(RECOVERY_MS);

      const probeError = boom('still down');
      await expect(fail(breaker, probeError)).resolves.toBe(probeError);
      expect(breaker.state).toBe(BreakerState.OPEN);
      const reopenedAt = T0 + RECOVERY_MS;
      expect(breaker.retryAt).toEqual(new Date(reopenedAt + RECOVERY_MS));
      expect(changes.at(-1)).toEqual({ from: BreakerState.HALF_OPEN, to: BreakerState.OPEN, retryAt: new Date(reopenedAt + RECOVERY_MS) });
      await expect(succeed(breaker)).rejects.toMatchObject({ code: ErrorCode.CIRCUIT_OPEN, retryAfterSeconds: 10 });
    });

    it('lets the probe through even if the half-open announcement has not run yet', async () => {
      const breaker = consecutive(1);
      await fail(breaker);
      jest.setSystemTime(T0 + RECOVERY_MS); // moves Date.now without firing timers
      expect(breaker.state).toBe(BreakerState.OPEN);
      await expect(succeed(breaker)).resolves.toBe('ok');
      expect(breaker.state).toBe(BreakerState.CLOSED);
    });

    it('recoveryTimeoutFor sets the open period per break', async () => {
      const auth = new PatchbayError(ErrorCode.UNAUTHORIZED, 'bad key');
      const breaker = consecutive(1, { recoveryTimeoutFor: (error) => (error === auth ? 60_000 : undefined) });
      await fail(breaker, auth);
      expect(breaker.retryAt).toEqual(new Date(T0 + 60_000));
      jest.advanceTimersByTime(RECOVERY_MS);
      expect(breaker.state).toBe(BreakerState.OPEN);
      jest.advanceTimersByTime(60_000 - RECOVERY_MS);
      expect(breaker.state).toBe(BreakerState.HALF_OPEN);

      await fail(breaker, boom('plain outage'));
      expect(breaker.retryAt).toEqual(new Date(T0 + 60_000 + RECOVERY_MS));
    });
  });

  describe('failure rate window', () => {
    const rateBreaker = (): CircuitBreaker =>
      new CircuitBreaker({
        name: 'db',
        kind: 'database',
        failureRate: { threshold: 0.5, windowMs: 10_000, minimumCalls: 4 },
        recoveryTimeoutMs: RECOVERY_MS,
      });

    it('waits for minimumCalls, then opens when more than threshold of the window failed', async () => {
      const breaker = rateBreaker();
      await fail(breaker);
      await fail(breaker);
      await fail(breaker);
      expect(breaker.state).toBe(BreakerState.CLOSED); // 3 calls < minimumCalls
      await succeed(breaker);
      await fail(breaker); // 4 of 5 failed
      expect(breaker.state).toBe(BreakerState.OPEN);
    });

    it('does not open at exactly the threshold', async () => {
      const breaker = rateBreaker();
      await succeed(breaker);
      await succeed(breaker);
      await fail(breaker);
      await fail(breaker);
      expect(breaker.state).toBe(BreakerState.CLOSED);
    });

    it('forgets failures that slid out of the window, even after a quiet period', async () => {
      const breaker = rateBreaker();
      await fail(breaker);
      await fail(breaker);
      await fail(breaker);
      jest.advanceTimersByTime(11_000);
      await succeed(breaker);
      await succeed(breaker);
      await succeed(breaker);
      await fail(breaker); // 1 of 4 in the window
      expect(breaker.state).toBe(BreakerState.CLOSED);
    });

    it('rejects a threshold outside (0, 1)', () => {
      expect(() => new CircuitBreaker({ name: 'x', kind: 'y', failureRate: { threshold: 1, windowMs: 1_000 } })).toThrow(RangeError);
    });
  });

  describe('manual control', () => {
    it('forceOpen rejects everything until reset', async () => {
      const breaker = consecutive(3);
      const changes = recordChanges(breaker);
      breaker.forceOpen();
      expect(breaker.state).toBe(BreakerState.FORCED_OPEN);
      const fn = jest.fn(async () => 'x');
      const error = await breaker.execute(fn).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: ErrorCode.CIRCUIT_OPEN, retryAfterSeconds: undefined });
      expect(fn).not.toHaveBeenCalled();
      jest.advanceTimersByTime(RECOVERY_MS * 10);
      expect(breaker.state).toBe(BreakerState.FORCED_OPEN);

      breaker.reset();
      expect(breaker.state).toBe(BreakerState.CLOSED);
      await expect(succeed(breaker)).resolves.toBe('ok');
      expect(changes).toEqual([
        { from: BreakerState.CLOSED, to: BreakerState.FORCED_OPEN },
        { from: BreakerState.FORCED_OPEN, to: BreakerState.CLOSED },
      ]);
    });

    it('forceOpen overrides an automatic open and cancels its half-open', async () => {
      const breaker = consecutive(1);
      await fail(breaker);
      breaker.forceOpen();
      jest.advanceTimersByTime(RECOVERY_MS);
      expect(breaker.state).toBe(BreakerState.FORCED_OPEN);
      expect(breaker.retryAt).toBeUndefined();
      await expect(succeed(breaker)).rejects.toMatchObject({ code: ErrorCode.CIRCUIT_OPEN });
    });

    it('forceClose disables the breaker: calls always run and nothing is counted', async () => {
      const breaker = consecutive(1);
      await fail(breaker);
      breaker.forceClose();
      expect(breaker.state).toBe(BreakerState.DISABLED);
      const before = breaker.stats();
      for (let i = 0; i < 5; i++) await fail(breaker);
      await succeed(breaker);
      expect(breaker.state).toBe(BreakerState.DISABLED);
      expect(breaker.stats()).toMatchObject({ successes: before.successes, failures: before.failures, rejections: 0 });

      breaker.reset();
      expect(breaker.state).toBe(BreakerState.CLOSED);
      await fail(breaker);
      expect(breaker.state).toBe(BreakerState.OPEN);
    });

    it('reset closes an open breaker and clears the window and counters', async () => {
      const breaker = consecutive(2);
      await fail(breaker);
      await fail(breaker);
      await succeed(breaker).catch(() => undefined);
      breaker.reset();
      expect(breaker.stats()).toEqual({
        state: BreakerState.CLOSED,
        successes: 0,
        failures: 0,
        rejections: 0,
        lastFailureAt: undefined,
        lastFailure: undefined,
        openedAt: undefined,
        retryAt: undefined,
      });
      await fail(breaker); // the old streak is gone: one failure does not open
      expect(breaker.state).toBe(BreakerState.CLOSED);
      jest.advanceTimersByTime(RECOVERY_MS); // the old half-open timer must not fire
      expect(breaker.state).toBe(BreakerState.CLOSED);
    });
  });

  it('stats count successes, failures and rejections with the last failure message', async () => {
    const breaker = consecutive(2);
    await succeed(breaker);
    await succeed(breaker);
    jest.advanceTimersByTime(1_000);
    await fail(breaker, boom('first'));
    jest.advanceTimersByTime(1_000);
    await fail(breaker, boom('connection refused'));
    await succeed(breaker).catch(() => undefined);
    await succeed(breaker).catch(() => undefined);

    expect(breaker.stats()).toEqual({
      state: BreakerState.OPEN,
      successes: 2,
      failures: 2,
      rejections: 2,
      lastFailureAt: new Date(T0 + 2_000),
      lastFailure: 'connection refused',
      openedAt: new Date(T0 + 2_000),
      retryAt: new Date(T0 + 2_000 + RECOVERY_MS),
    });
  });

  it('isFailure decides what counts: other errors pass through uncounted', async () => {
    const clientError = PatchbayError.validation('bad request');
    const breaker = consecutive(2, { isFailure: (error) => !(error instanceof PatchbayError && error.code === ErrorCode.VALIDATION) });
    for (let i = 0; i < 5; i++) await expect(fail(breaker, clientError)).resolves.toBe(clientError);
    expect(breaker.state).toBe(BreakerState.CLOSED);
    expect(breaker.stats()).toMatchObject({ failures: 0, successes: 0, lastFailure: undefined });

    await fail(breaker);
    await fail(breaker, clientError); // ignored: neither counts nor resets the streak
    await fail(breaker);
    expect(breaker.state).toBe(BreakerState.OPEN);
  });

  it('by default does not count cancellations', async () => {
    const breaker = consecutive(1);
    await fail(breaker, new PatchbayError(ErrorCode.CANCELLED, 'client left'));
    await fail(breaker, new DOMException('aborted', 'AbortError'));
    expect(breaker.state).toBe(BreakerState.CLOSED);
  });

  it('passes the caller signal to fn', async () => {
    const breaker = consecutive(1);
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    await breaker.execute(async (signal) => {
      seen = signal;
    }, controller.signal);
    controller.abort();
    expect(seen?.aborted).toBe(true);
  });

  it('onStateChange returns an unsubscribe; a throwing listener does not break calls', async () => {
    const breaker = consecutive(1);
    const listener = jest.fn();
    const unsubscribe = breaker.onStateChange(listener);
    breaker.onStateChange(() => {
      throw new Error('listener bug');
    });
    const error = boom();
    await expect(fail(breaker, error)).resolves.toBe(error);
    expect(listener).toHaveBeenCalledTimes(1);
    unsubscribe();
    breaker.reset();
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('breakerChangedData builds the breaker.changed.v1 payload', async () => {
    const breaker = consecutive(1);
    const payloads: unknown[] = [];
    breaker.onStateChange((change) => payloads.push(breakerChangedData(breaker, change)));
    await fail(breaker);
    breaker.reset();
    expect(payloads).toEqual([
      { kind: 'llm-upstream', name: 'openai', from: 'closed', to: 'open', retryAt: '2025-01-01T00:00:10.000Z' },
      { kind: 'llm-upstream', name: 'openai', from: 'open', to: 'closed' },
    ]);
  });
});
