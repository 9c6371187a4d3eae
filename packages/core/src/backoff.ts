/**
 * How a random delay is drawn from the exponential base delay `b`:
 * - `full`: uniform in `[0, b)` (AWS "full jitter"; best at spreading a thundering herd),
 * - `equal`: uniform in `[b/2, b)`,
 * - `none`: exactly `b`.
 */
export type Jitter = 'full' | 'equal' | 'none';

/** Exponential backoff settings. All durations in milliseconds. */
export interface BackoffOptions {
  /** Base delay before the first retry, in ms (>= 0). */
  initialDelayMs: number;
  /** Upper bound of any delay, in ms (>= initialDelayMs). */
  maxDelayMs: number;
  /** Growth factor per attempt (>= 1). */
  multiplier: number;
  jitter: Jitter;
}

/** 100 ms doubling up to 10 s, full jitter. */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = {
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  multiplier: 2,
  jitter: 'full',
};

/**
 * Delay before retry number `attempt` (1 = the first retry), in whole milliseconds:
 * `min(maxDelayMs, initialDelayMs * multiplier^(attempt - 1))`, then jittered.
 *
 * @param random - source of numbers in `[0, 1)`; defaults to `Math.random`.
 * @throws RangeError when `attempt` is not an integer >= 1 or the options are out of range.
 */
export function computeBackoff(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer >= 1, got ${attempt}`);
  assertBackoffOptions(options);
  const grown = options.initialDelayMs === 0 ? 0 : options.initialDelayMs * options.multiplier ** (attempt - 1);
  const base = Math.min(options.maxDelayMs, grown);
  switch (options.jitter) {
    case 'none':
      return Math.floor(base);
    case 'full':
      return Math.floor(random() * base);
    case 'equal':
      return Math.floor(base / 2 + (random() * base) / 2);
  }
}

/** @throws RangeError when a backoff option is out of range. */
export function assertBackoffOptions(options: BackoffOptions): void {
  const { initialDelayMs, maxDelayMs, multiplier, jitter } = options;
  if (!Number.isFinite(initialDelayMs) || initialDelayMs < 0) {
    throw new RangeError(`initialDelayMs must be a finite number >= 0, got ${initialDelayMs}`);
  }
  if (!(maxDelayMs >= initialDelayMs) || !Number.isFinite(maxDelayMs)) {
    throw new RangeError(`maxDelayMs must be finite and >= initialDelayMs, got ${maxDelayMs}`);
  }
  if (!Number.isFinite(multiplier) || multiplier < 1) throw new RangeError(`multiplier must be >= 1, got ${multiplier}`);
  if (jitter !== 'full' && jitter !== 'equal' && jitter !== 'none') throw new RangeError(`unknown jitter ${String(jitter)}`);
}
