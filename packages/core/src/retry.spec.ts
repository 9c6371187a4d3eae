import type { Clock, TimerHandle } from './clock';
import { ErrorCode, PatchbayError } from './errors';
import { isRetryableError, parseRetryAfter, retry } from './retry';
import type { RetryContext, RetryEvent } from './retry';

const NOW = Date.parse('2025-01-01T00:00:00Z');

describe('parseRetryAfter', () => {
  it('reads Retry-After delay-seconds', () => {
    expect(parseRetryAfter({ 'retry-after': '7' }, NOW)).toBe(7_000);
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter(' 1.5 ', NOW)).toBe(1_500);
  });

  it('reads a Retry-After HTTP-date relative to now, never negative', () => {
    expect(parseRetryAfter({ 'Retry-After': 'Wed, 01 Jan 2025 00:00:30 GMT' }, NOW)).toBe(30_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', NOW)).toBe(0);
  });

  it('prefers retry-after-ms (milliseconds) and falls back when it is invalid', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '250', 'retry-after': '7' }, NOW)).toBe(250);
    expect(parseRetryAfter({ 'retry-after-ms': 'soon', 'retry-after': '7' }, NOW)).toBe(7_000);
    expect(parseRetryAfter({ 'retry-after-ms': '-5' }, NOW)).toBeUndefined();
  });

  it('accepts fetch Headers and Node header arrays', () => {
    expect(parseRetryAfter(new Headers({ 'Retry-After': '3' }), NOW)).toBe(3_000);
    expect(parseRetryAfter(new Headers({ 'Retry-After-Ms': '40' }), NOW)).toBe(40);
    expect(parseRetryAfter({ 'retry-after': ['2', '9'] }, NOW)).toBe(2_000);
  });

  it('returns undefined for missing or garbage values', () => {
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
    expect(parseRetryAfter({}, NOW)).toBeUndefined();
    expect(parseRetryAfter(new Headers(), NOW)).toBeUndefined();
    for (const value of ['', 'soon', '-1', '1e3', 'Someday, maybe', 'Mon, 99 Foo 2024 25:00:00 GMT']) {
      expect(parseRetryAfter(value, NOW)).toBeUndefined();
    }
  });
});

describe('isRetryableError', () => {
  it('retries transient failures but not caller mistakes or cancellations', () => {
    expect(isRetryableError(new Error('ECONNRESET'))).toBe(true);
    expect(isRetryableError(new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'down'))).toBe(true);
    expect(isRetryableError(new PatchbayError(ErrorCode.RATE_LIMITED, 'slow down'))).toBe(true);
    expect(isRetryableError(PatchbayError.validation('bad'))).toBe(false);
    expect(isRetryableError(new PatchbayError(ErrorCode.UNAUTHORIZED, 'no'))).toBe(false);
    expect(isRetryableError(new PatchbayError(ErrorCode.CANCELLED, 'stop'))).toBe(false);
  });
});

/** An fn that fails with `errors` in turn, then resolves 'ok'; records attempts and their times. */
function flaky(errors: unknown[]): jest.Mock<Promise<string>, [RetryContext]> & { times: number[] } {
  const times: number[] = [];
  const fn = jest.fn(async ({ attempt }: RetryContext) => {
    times.push(Date.now());
    if (attempt <= errors.length) throw errors[attempt - 1];
    return 'ok';
  });
  return Object.assign(fn, { times });
}

function never(): jest.Mock<Promise<string>, [RetryContext]> {
  return jest.fn((_context: RetryContext) => new Promise<string>(() => undefined));
}

/** Runs `promise` to completion while advancing fake time; returns the settled outcome. */
async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await jest.runAllTimersAsync();
  return outcome;
}

describe('retry', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(NOW);
  });
  afterEach(() => jest.useRealTimers());

  const noJitter = { initialDelayMs: 100, maxDelayMs: 1_000, multiplier: 2, jitter: 'none' } as const;

  it('resolves with the first success, sleeping the backoff between attempts', async () => {
    const fn = flaky([new Error('a'), new Error('b')]);
    const events: RetryEvent[] = [];
    const { value } = await settle(retry(fn, { ...noJitter, maxAttempts: 5, onRetry: (e) => events.push(e) }));
    expect(value).toBe('ok');
    expect(fn.mock.calls.map(([ctx]) => ctx.attempt)).toEqual([1, 2, 3]);
    expect(fn.times.map((t) => t - NOW)).toEqual([0, 100, 300]);
    expect(events.map(({ attempt, delayMs }) => ({ attempt, delayMs }))).toEqual([
      { attempt: 1, delayMs: 100 },
      { attempt: 2, delayMs: 200 },
    ]);
  });

  it('stops at maxAttempts and throws the last error', async () => {
    const errors = [new Error('1'), new Error('2'), new Error('3'), new Error('4')];
    const fn = flaky(errors);
    const { error } = await settle(retry(fn, { ...noJitter, maxAttempts: 3 }));
    expect(error).toBe(errors[2]);
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('stops at once on a non-retryable error, passing the attempt number to the predicate', async () => {
    const fatal = new Error('fatal');
    const fn = flaky([new Error('transient'), fatal, new Error('never reached')]);
    const retryable = jest.fn((error: unknown, _attempt: number) => error !== fatal);
    const { error } = await settle(retry(fn, { ...noJitter, maxAttempts: 10, retryable }));
    expect(error).toBe(fatal);
    expect(fn).toHaveBeenCalledTimes(2);
    expect(retryable.mock.calls.map(([, attempt]) => attempt)).toEqual([1, 2]);
  });

  it('by default does not retry a VALIDATION PatchbayError', async () => {
    const fn = flaky([PatchbayError.validation('bad input')]);
    const { error } = await settle(retry(fn, noJitter));
    expect(error).toMatchObject({ code: ErrorCode.VALIDATION });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('never sleeps past the deadline: gives up with the last error when the next sleep would cross it', async () => {
    const fn = flaky(Array.from({ length: 20 }, (_, i) => new Error(`e${i + 1}`)));
    const deadlineMs = 1_000;
    const promise = retry(fn, { initialDelayMs: 300, maxDelayMs: 300, jitter: 'none', maxAttempts: Infinity, deadlineMs });
    const { error } = await settle(promise);
    // attempts at 0, 300, 600, 900; sleeping 300 more would end at 1200 > 1000.
    expect(fn.times.map((t) => t - NOW)).toEqual([0, 300, 600, 900]);
    expect(error).toMatchObject({ message: 'e4' });
    expect(Date.now() - NOW).toBe(900);
  });

  it('throws TIMEOUT when the deadline cuts the first attempt, and aborts its signal', async () => {
    const fn = never();
    const promise = retry(fn, { deadlineMs: 500 });
    const { error } = await settle(promise);
    expect(error).toBeInstanceOf(PatchbayError);
    expect(error).toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(Date.now() - NOW).toBe(500);
    expect(fn.mock.calls[0]?.[0].signal.aborted).toBe(true);
  });

  it('throws the last error when the deadline cuts a later attempt', async () => {
    const first = new Error('first');
    const fn = jest.fn(async ({ attempt }: RetryContext): Promise<string> => {
      if (attempt === 1) throw first;
      return new Promise<string>(() => undefined);
    });
    const { error } = await settle(retry(fn, { ...noJitter, maxAttempts: 5, deadlineMs: 1_000 }));
    expect(error).toBe(first);
    expect(Date.now() - NOW).toBe(1_000);
  });

  it('on abort mid-sleep rejects at once with CANCELLED and runs no more attempts', async () => {
    const controller = new AbortController();
    const fn = flaky([new Error('a'), new Error('b')]);
    const onRetry = jest.fn();
    const promise = retry(fn, { ...noJitter, initialDelayMs: 10_000, maxDelayMs: 10_000, signal: controller.signal, onRetry });
    const outcome = promise.then(
      () => undefined,
      (error: unknown) => error,
    );
    await jest.advanceTimersByTimeAsync(0);
    expect(onRetry).toHaveBeenCalledTimes(1); // now sleeping 10 s

    controller.abort(new Error('client went away'));
    const error = await outcome; // no timers advanced: the abort alone settles it
    expect(error).toBeInstanceOf(PatchbayError);
    expect(error).toMatchObject({ code: ErrorCode.CANCELLED });
    expect(Date.now() - NOW).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('on abort mid-attempt rejects at once with CANCELLED and aborts the attempt signal', async () => {
    const controller = new AbortController();
    const fn = never();
    const outcome = retry(fn, { signal: controller.signal }).catch((error: unknown) => error);
    controller.abort();
    await expect(outcome).resolves.toMatchObject({ code: ErrorCode.CANCELLED });
    expect(fn.mock.calls[0]?.[0].signal.aborted).toBe(true);
  });

  it('does not call fn when the signal is already aborted', async () => {
    const fn = flaky([]);
    await expect(retry(fn, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
    expect(fn).not.toHaveBeenCalled();
  });

  it('honours a retry-after hint instead of the backoff, capped at maxDelayMs', async () => {
    const hints = [250, 5_000];
    const fn = flaky([new Error('a'), new Error('b')]);
    const retryAfterMs = jest.fn(() => hints.shift());
    const { value } = await settle(retry(fn, { ...noJitter, maxAttempts: 3, retryAfterMs }));
    expect(value).toBe('ok');
    expect(fn.times.map((t) => t - NOW)).toEqual([0, 250, 250 + 1_000]);
  });

  it('gives up instead of sleeping when retry-after exceeds maxRetryAfterMs', async () => {
    const limited = new PatchbayError(ErrorCode.RATE_LIMITED, 'slow down', { retryAfterSeconds: 60 });
    const fn = flaky([limited]);
    const { error } = await settle(retry(fn, { ...noJitter, maxRetryAfterMs: 30_000 }));
    expect(error).toBe(limited);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(Date.now() - NOW).toBe(0);
  });

  it('reads retryAfterSeconds of a PatchbayError by default', async () => {
    const fn = flaky([new PatchbayError(ErrorCode.RATE_LIMITED, 'slow down', { retryAfterSeconds: 2 })]);
    const { value } = await settle(retry(fn, { ...noJitter, maxDelayMs: 10_000 }));
    expect(value).toBe('ok');
    expect(fn.times.map((t) => t - NOW)).toEqual([0, 2_000]);
  });

  it('works with an injected Clock', async () => {
    jest.useRealTimers();
    const timers: Array<{ at: number; fn: () => void }> = [];
    let now = 0;
    const clock: Clock = {
      now: () => now,
      setTimeout: (fn, ms): TimerHandle => {
        const timer = { at: now + ms, fn };
        timers.push(timer);
        return timer;
      },
      clearTimeout: (handle) => {
        const index = timers.findIndex((t) => t === handle);
        if (index >= 0) timers.splice(index, 1);
      },
    };
    const fn = flaky([new Error('a')]);
    const promise = retry(fn, { ...noJitter, clock, deadlineMs: 10_000 });
    await new Promise((resolve) => setImmediate(resolve));
    const sleep = timers.find((t) => t.at === 100);
    if (!sleep) throw new Error('retry did not schedule its 100 ms sleep on the injected clock');
    now = 100;
    timers.splice(timers.indexOf(sleep), 1);
    sleep.fn();
    await expect(promise).resolves.toBe('ok');
    expect(timers).toHaveLength(0); // the deadline timer was released
  });

  it('rejects invalid options', async () => {
    await expect(retry(flaky([]), { maxAttempts: 0 })).rejects.toThrow(RangeError);
    await expect(retry(flaky([]), { multiplier: 0 })).rejects.toThrow(RangeError);
  });
});
