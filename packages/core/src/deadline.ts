import { MAX_TIMER_DELAY_MS, systemClock } from './clock';
import type { Clock, TimerHandle } from './clock';
import { ErrorCode, PatchbayError } from './errors';
import { controllerAborted, controllerReason } from './request-controller';

export interface DeadlineOptions {
  /** A parent signal; when it aborts, {@link Deadline.signal} aborts with the same reason. */
  signal?: AbortSignal;
  /**
   * A controller the caller owns (e.g. aborted when its client goes away), used as the
   * deadline's own instead of a new one linked to a parent `signal`: one controller and
   * one listener less per call on hot paths. Give this or `signal`, not both.
   */
  controller?: AbortController;
  /** Defaults to {@link systemClock}. */
  clock?: Clock;
}

/**
 * A point in time by which work must be done, plus an `AbortSignal` that fires when it
 * passes or when a parent signal aborts, whichever comes first.
 *
 * The deadline owns one timer and one listener on the parent signal; both are released
 * when the signal fires or on {@link Deadline.dispose}. Always dispose a deadline whose
 * work finished early (`try { ... } finally { deadline.dispose() }`).
 */
export class Deadline {
  /** The deadline, in ms since the epoch (per the clock); `Infinity` for none. */
  readonly at: number;
  private readonly controller: AbortController;
  private readonly clock: Clock;
  private readonly parent: AbortSignal | undefined;
  private timer?: TimerHandle;
  private readonly onParentAbort = (): void => this.abort(this.parent?.reason);

  /**
   * @param timeoutMs - time from now, in ms; `Infinity` means no deadline (the signal then
   *   only follows the parent).
   * @throws RangeError when `timeoutMs` is negative or NaN.
   */
  constructor(timeoutMs: number, options: DeadlineOptions = {}) {
    if (Number.isNaN(timeoutMs) || timeoutMs < 0) throw new RangeError(`timeoutMs must be >= 0, got ${timeoutMs}`);
    if (options.signal && options.controller) throw new TypeError('give a Deadline a parent signal or a controller, not both');
    this.controller = options.controller ?? new AbortController();
    this.clock = options.clock ?? systemClock;
    this.parent = options.signal;
    this.at = this.clock.now() + timeoutMs;
    if (controllerAborted(this.controller)) return;
    if (this.parent?.aborted) {
      this.abort(this.parent.reason);
      return;
    }
    this.parent?.addEventListener('abort', this.onParentAbort, { once: true });
    if (Number.isFinite(this.at)) this.arm();
  }

  /**
   * Aborts when the deadline passes (reason: a `PatchbayError` with code `TIMEOUT`) or
   * when the parent signal aborts (reason: the parent's reason).
   */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Whether the signal has fired; reads no signal a {@link RequestController} has not made. */
  get aborted(): boolean {
    return controllerAborted(this.controller);
  }

  /** Why the signal fired (undefined while it has not). */
  get reason(): unknown {
    return controllerReason(this.controller);
  }

  /** Milliseconds left, never negative; `Infinity` without a deadline. */
  get remainingMs(): number {
    return Math.max(0, this.at - this.clock.now());
  }

  /** True once the deadline has passed (a parent abort alone does not expire it). */
  get expired(): boolean {
    return this.clock.now() >= this.at;
  }

  /** Releases the timer and the parent listener without aborting. Idempotent. */
  dispose(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }

  private arm(): void {
    const remaining = this.at - this.clock.now();
    if (remaining <= 0) {
      this.abort(new PatchbayError(ErrorCode.TIMEOUT, 'deadline exceeded'));
      return;
    }
    // Node timers cap at ~24.8 days; longer deadlines re-arm in steps.
    const delay = Math.min(remaining, MAX_TIMER_DELAY_MS);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (delay === remaining) this.abort(new PatchbayError(ErrorCode.TIMEOUT, 'deadline exceeded'));
      else this.arm();
    }, delay);
  }

  private abort(reason: unknown): void {
    this.dispose();
    if (!controllerAborted(this.controller)) this.controller.abort(reason);
  }
}
