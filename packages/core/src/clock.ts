/**
 * Opaque timer handle: whatever the clock's `setTimeout` returned. Only ever hand it
 * back to the same clock's `clearTimeout`.
 */
export type TimerHandle = unknown;

/**
 * The time port. Code that waits or measures time takes a `Clock` so tests can drive
 * time by hand. {@link systemClock} reads the globals at call time, so
 * `jest.useFakeTimers()` controls it too (the preferred way to test timing).
 */
export interface Clock {
  /** Current time in milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a pending timer. Unknown or already-fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

type NodeTimer = ReturnType<typeof setTimeout>;

function isNodeTimer(handle: unknown): handle is NodeTimer {
  return typeof handle === 'object' && handle !== null && 'unref' in handle && 'ref' in handle;
}

/** The real clock: `Date.now()` and the global timers (looked up on every call). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => {
    if (typeof handle === 'number' || isNodeTimer(handle)) clearTimeout(handle);
  },
};

/** The longest delay Node timers accept (about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;
