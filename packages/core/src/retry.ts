import { assertBackoffOptions, computeBackoff, DEFAULT_BACKOFF } from './backoff';
import type { BackoffOptions } from './backoff';
import { systemClock } from './clock';
import type { Clock } from './clock';
import { Deadline } from './deadline';
import { ErrorCode, isPatchbayError, PatchbayError } from './errors';

/** A fetch `Headers`-like object (`get` is case-insensitive). */
export interface HeaderGetter {
  get(name: string): string | null;
}

/** Response headers as fetch `Headers`, Node `IncomingHttpHeaders` or a plain record. */
export type HeaderSource = HeaderGetter | Readonly<Record<string, string | readonly string[] | number | undefined>>;

function isHeaderGetter(source: HeaderSource): source is HeaderGetter {
  return 'get' in source && typeof source.get === 'function';
}

function headerValue(source: HeaderSource, name: string): string | undefined {
  if (isHeaderGetter(source)) return source.get(name) ?? undefined;
  for (const [key, value] of Object.entries(source)) {
    if (key.toLowerCase() !== name) continue;
    const first = typeof value === 'object' ? value[0] : value;
    return first === undefined ? undefined : String(first);
  }
  return undefined;
}

const DELAY_SECONDS = /^\s*(\d+(?:\.\d+)?)\s*$/;
// HTTP-dates (IMF-fixdate, RFC 850, asctime) all start with a day name; this keeps
// Date.parse from accepting things like "-1" or "2024".
const HTTP_DATE = /^\s*[A-Za-z]{3,9},?\s/;

/**
 * Reads a server's "retry later" hint, in milliseconds from `nowMs` (never negative).
 *
 * From headers: `retry-after-ms` (milliseconds, as sent by OpenAI and Azure) wins when
 * valid, else `Retry-After` as delay-seconds or an HTTP-date. A bare string is read as a
 * `Retry-After` value. Returns undefined when there is no usable hint.
 *
 * @param nowMs - the current time in ms since the epoch (for HTTP-dates).
 */
export function parseRetryAfter(source: HeaderSource | string | null | undefined, nowMs: number): number | undefined {
  if (source === null || source === undefined) return undefined;
  if (typeof source === 'string') return parseRetryAfterValue(source, nowMs);
  const ms = headerValue(source, 'retry-after-ms');
  if (ms !== undefined && ms.trim() !== '') {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return Math.ceil(value);
  }
  const retryAfter = headerValue(source, 'retry-after');
  return retryAfter === undefined ? undefined : parseRetryAfterValue(retryAfter, nowMs);
}

function parseRetryAfterValue(value: string, nowMs: number): number | undefined {
  const seconds = DELAY_SECONDS.exec(value);
  if (seconds?.[1] !== undefined) return Math.ceil(Number(seconds[1]) * 1000);
  if (!HTTP_DATE.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** What each attempt receives. */
export interface RetryContext {
  /** 1 for the first call, 2 for the first retry, ... */
  attempt: number;
  /** Aborts at the deadline or when the caller's signal aborts; pass it to your I/O. */
  signal: AbortSignal;
}

/** Handed to `onRetry` before each sleep. */
export interface RetryEvent {
  /** The attempt that just failed. */
  attempt: number;
  error: unknown;
  /** How long retry will now sleep, in ms. */
  delayMs: number;
}

/** Options of {@link retry}. Backoff fields default to {@link DEFAULT_BACKOFF}. */
export interface RetryOptions extends Partial<BackoffOptions> {
  /** Total calls including the first; an integer >= 1 or `Infinity`. Default 3. */
  maxAttempts?: number;
  /**
   * Total time budget in ms from the call to `retry`, attempts and sleeps included.
   * Attempts still running at the deadline are abandoned (their signal aborts), and a
   * sleep that would end at or past it is not started. Default: none.
   */
  deadlineMs?: number;
  /** Whether to retry after `error` (the `attempt` that failed). Default {@link isRetryableError}. */
  retryable?: (error: unknown, attempt: number) => boolean;
  /**
   * A server-given delay for `error` in ms (e.g. from {@link parseRetryAfter}). When it
   * returns a number, it replaces the backoff delay, capped at `maxDelayMs`. Default:
   * `retryAfterSeconds` of a `PatchbayError`.
   */
  retryAfterMs?: (error: unknown) => number | undefined;
  /** Give up instead of sleeping when the server asks to wait longer than this, in ms. Default: no limit. */
  maxRetryAfterMs?: number;
  /** Aborting stops at once (mid-attempt or mid-sleep) with a `CANCELLED` PatchbayError. */
  signal?: AbortSignal;
  /** Called before each sleep. */
  onRetry?: (event: RetryEvent) => void;
  /** Defaults to {@link systemClock}. */
  clock?: Clock;
  /** Source of numbers in `[0, 1)` for jitter. Default `Math.random`. */
  random?: () => number;
}

const NON_RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.VALIDATION,
  ErrorCode.PAYLOAD_TOO_LARGE,
  ErrorCode.UNAUTHORIZED,
  ErrorCode.FORBIDDEN,
  ErrorCode.NOT_FOUND,
  ErrorCode.CONFLICT,
  ErrorCode.PRECONDITION_FAILED,
  ErrorCode.UNPROCESSABLE,
  ErrorCode.CANCELLED,
]);

/**
 * The default retry predicate: every error is transient except a `PatchbayError` whose
 * code says the request itself is wrong (validation, auth, not found, conflict, ...) or
 * was cancelled. `RATE_LIMITED`, `TIMEOUT`, `CIRCUIT_OPEN` and the upstream codes retry.
 */
export function isRetryableError(error: unknown): boolean {
  return !(isPatchbayError(error) && NON_RETRYABLE_CODES.has(error.code));
}

function defaultRetryAfterMs(error: unknown): number | undefined {
  return isPatchbayError(error) && error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : undefined;
}

/**
 * Calls `fn` until it resolves, retrying failures with exponential backoff and jitter.
 *
 * Stops and rejects:
 * - with the last error when attempts run out, `retryable` says no, the server's
 *   retry-after exceeds `maxRetryAfterMs`, or the next sleep would cross the deadline;
 * - at the deadline: with the last error, or a `TIMEOUT` PatchbayError when no attempt
 *   had finished yet;
 * - when `signal` aborts: at once, with a `CANCELLED` PatchbayError (cause: the abort reason).
 *
 * @throws RangeError on invalid options.
 */
export async function retry<T>(fn: (context: RetryContext) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 3;
  if (!(maxAttempts === Infinity || (Number.isInteger(maxAttempts) && maxAttempts >= 1))) {
    throw new RangeError(`maxAttempts must be an integer >= 1 or Infinity, got ${maxAttempts}`);
  }
  const backoff: BackoffOptions = {
    initialDelayMs: options.initialDelayMs ?? DEFAULT_BACKOFF.initialDelayMs,
    maxDelayMs: options.maxDelayMs ?? Math.max(DEFAULT_BACKOFF.maxDelayMs, options.initialDelayMs ?? 0),
    multiplier: options.multiplier ?? DEFAULT_BACKOFF.multiplier,
    jitter: options.jitter ?? DEFAULT_BACKOFF.jitter,
  };
  assertBackoffOptions(backoff);
  const retryable = options.retryable ?? isRetryableError;
  const retryAfterMs = options.retryAfterMs ?? defaultRetryAfterMs;
  const clock = options.clock ?? systemClock;
  const deadline = new Deadline(options.deadlineMs ?? Infinity, {
    clock,
    ...(options.signal ? { signal: options.signal } : {}),
  });

  let failed = false;
  let lastError: unknown;
  const stopped = (): unknown => {
    if (options.signal?.aborted) {
      return new PatchbayError(ErrorCode.CANCELLED, 'operation was cancelled', { cause: options.signal.reason });
    }
    return failed ? lastError : new PatchbayError(ErrorCode.TIMEOUT, `no attempt finished within ${options.deadlineMs} ms`);
  };

  try {
    for (let attempt = 1; ; attempt++) {
      if (deadline.signal.aborted) throw stopped();
      try {
        return await raceAbort(invoke(fn, { attempt, signal: deadline.signal }), deadline.signal);
      } catch (error) {
        if (deadline.signal.aborted) throw stopped();
        failed = true;
        lastError = error;
        if (attempt >= maxAttempts || !retryable(error, attempt)) throw error;

        let delayMs = computeBackoff(attempt, backoff, options.random);
        const hinted = retryAfterMs(error);
        if (hinted !== undefined && Number.isFinite(hinted) && hinted >= 0) {
          if (options.maxRetryAfterMs !== undefined && hinted > options.maxRetryAfterMs) throw error;
          delayMs = Math.min(hinted, backoff.maxDelayMs);
        }
        if (delayMs >= deadline.remainingMs) throw error;

        options.onRetry?.({ attempt, error, delayMs });
        try {
          await sleep(delayMs, deadline.signal, clock);
        } catch {
          throw stopped();
        }
      }
    }
  } finally {
    deadline.dispose();
  }
}

async function invoke<T>(fn: (context: RetryContext) => Promise<T>, context: RetryContext): Promise<T> {
  return fn(context);
}

/** Settles like `promise`, or rejects with the abort reason as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Resolves after `ms`; rejects with the abort reason as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal, clock: Clock): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
