import { computeBackoff, type BackoffOptions } from '@patchbay/core';
import type { ProxySettings } from '../config/settings';
import type { AttemptFailure } from './classify';

/**
 * When to try the same connector again, and after how long. Failing over to the next
 * connector is the alternative to every "no" here; the request deadline bounds both.
 */
export class RetryPolicy {
  /** Attempts per request, over every connector. */
  readonly maxAttempts: number;
  private readonly backoff: BackoffOptions;
  private readonly maxRetryWaitMs: number;

  constructor(settings: ProxySettings) {
    this.maxAttempts = settings.maxAttempts;
    this.maxRetryWaitMs = settings.maxRetryWaitMs;
    this.backoff = { initialDelayMs: settings.retryBaseMs, maxDelayMs: settings.retryMaxMs, multiplier: 2, jitter: 'equal' };
  }

  /**
   * The backoff before retry number `retry` (1 for the first) of a failure on the same
   * connector, or undefined to fail over: the failure is not worth repeating there
   * (timeouts, auth, 429s: those have their own paths), the connector's `maxRetries`
   * are used up, or the sleep would outlast the deadline.
   */
  retryDelay(failure: AttemptFailure, retry: number, maxRetries: number, remainingMs: number): number | undefined {
    if (!failure.retrySameConnector || retry > maxRetries) return undefined;
    const delay = computeBackoff(retry, this.backoff);
    return delay < remainingMs ? delay : undefined;
  }

  /** Whether a cool-down the upstream asked for (429) is short enough to wait out in place. */
  mayWaitOut(coolingMs: number, remainingMs: number): boolean {
    return coolingMs <= this.maxRetryWaitMs && coolingMs < remainingMs;
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts (the caller checks why). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
