import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import type { CircuitBreakerPolicy, FailureReason, IBackoff, IBreaker, IDisposable, IHalfOpenAfterBackoffContext } from 'cockatiel';
import type { BreakerChangedData } from './bus/envelope';
import { ErrorCode, isPatchbayError, PatchbayError } from './errors';
import { BreakerState } from './state';

// cockatiel reads Date.now() and the global timers directly, so this facade does too:
// tests drive it with jest.useFakeTimers() rather than an injected Clock.

/** Open when the failure share over a sliding time window gets too high. */
export interface FailureRateOptions {
  /** Opens when more than this share of calls failed, in (0, 1) exclusive. */
  threshold: number;
  /** Sliding window length in ms (tracked in buckets of min(1 s, windowMs / 5), so to that precision). */
  windowMs: number;
  /** No opening before this many calls completed within the window. Default 10. */
  minimumCalls?: number;
}

interface CommonBreakerOptions {
  /** What is protected, usually a configId or member id; shown in errors and events. */
  name: string;
  /** What kind of thing it is: `llm-upstream`, `database`, `mcp-server`, ... */
  kind: string;
  /** How long an opened circuit stays open before it lets one probe through, in ms. Default 30 000. */
  recoveryTimeoutMs?: number;
  /**
   * Per-break override of `recoveryTimeoutMs`, given the error that opened (or re-opened)
   * the circuit; return undefined to keep the default. E.g. keep it open longer after an
   * authentication failure.
   */
  recoveryTimeoutFor?: (error: unknown) => number | undefined;
  /**
   * Whether an error counts against the upstream. Errors it rejects pass through untouched
   * and are not counted. Default: everything except cancellations (a `CANCELLED`
   * PatchbayError or an error named `AbortError`). Must be pure: it may be called twice.
   */
  isFailure?: (error: unknown) => boolean;
}

/** Options of {@link CircuitBreaker}: exactly one of `consecutiveFailures` or `failureRate`. */
export type CircuitBreakerOptions = CommonBreakerOptions &
  (
    | { /** Opens after this many failures in a row (integer >= 1). */ consecutiveFailures: number; failureRate?: never }
    | { failureRate: FailureRateOptions; consecutiveFailures?: never }
  );

/** One state change, as handed to {@link CircuitBreaker.onStateChange} listeners. */
export interface BreakerStateChange {
  from: BreakerState;
  to: BreakerState;
  /** Set when `to` is `open`: when the circuit will let a probe through. */
  retryAt?: Date;
}

/** A snapshot of a breaker. Counters run since creation or the last `reset()`. */
export interface BreakerStats {
  state: BreakerState;
  /** Calls that resolved. */
  successes: number;
  /** Calls that failed with an error `isFailure` counted. */
  failures: number;
  /** Calls rejected fast with `CIRCUIT_OPEN` without running. */
  rejections: number;
  lastFailureAt: Date | undefined;
  /** Message of the last counted failure (never the error object: it may hold secrets). */
  lastFailure: string | undefined;
  /** When the circuit last opened (automatically or by force); undefined while closed or disabled. */
  openedAt: Date | undefined;
  /** While `open`: when a probe will be let through. */
  retryAt: Date | undefined;
}

const DEFAULT_RECOVERY_TIMEOUT_MS = 30_000;
const DEFAULT_MINIMUM_CALLS = 10;

/** Library states mapped once; cockatiel's numeric enum never leaves this file. */
const FROM_LIBRARY: Readonly<Record<CircuitState, BreakerState>> = {
  [CircuitState.Closed]: BreakerState.CLOSED,
  [CircuitState.Open]: BreakerState.OPEN,
  [CircuitState.HalfOpen]: BreakerState.HALF_OPEN,
  [CircuitState.Isolated]: BreakerState.FORCED_OPEN,
};

function isCancellation(error: unknown): boolean {
  if (isPatchbayError(error)) return error.code === ErrorCode.CANCELLED;
  // Duck-typed: DOMException and errors from other realms are not `instanceof Error` here.
  return typeof error === 'object' && error !== null && 'name' in error && error.name === 'AbortError';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
}

/**
 * A circuit breaker for one upstream, built on cockatiel behind Patchbay's own states.
 *
 * - `closed`: calls run; failures are counted (consecutive or failure-rate window).
 * - `open`: calls are rejected fast until `retryAt`, then it turns `half_open`.
 * - `half_open`: exactly one call runs as a probe; others are rejected fast while it
 *   runs. Success closes the circuit, a counted failure re-opens it, an error that
 *   `isFailure` ignores closes it too (the upstream answered).
 * - `forced_open` ({@link forceOpen}) rejects everything; `disabled` ({@link forceClose})
 *   runs everything and counts nothing. {@link reset} returns to `closed`.
 *
 * State changes fire {@link onStateChange} listeners synchronously; build the
 * `breaker.changed.v1` payload with {@link breakerChangedData}.
 */
export class CircuitBreaker {
  readonly name: string;
  readonly kind: string;

  private readonly options: CircuitBreakerOptions;
  private readonly isFailure: (error: unknown) => boolean;
  private readonly recoveryTimeoutMs: number;
  private readonly listeners = new Set<(change: BreakerStateChange) => void>();

  private policy: CircuitBreakerPolicy;
  private subscriptions: IDisposable[] = [];
  private isolation: IDisposable | undefined;
  /** Bumped whenever the policy is replaced, so late results of old calls are ignored. */
  private generation = 0;
  private current = BreakerState.CLOSED;
  private disabled = false;
  /** Recovery time chosen by the backoff for the break cockatiel is about to report. */
  private nextRecoveryMs: number;
  private openedAtMs: number | undefined;
  private retryAtMs: number | undefined;
  private halfOpenTimer: ReturnType<typeof setTimeout> | undefined;

  private successes = 0;
  private failures = 0;
  private rejections = 0;
  private lastFailureAtMs: number | undefined;
  private lastFailureMessage: string | undefined;

  /** @throws RangeError on invalid thresholds or durations. */
  constructor(options: CircuitBreakerOptions) {
    this.name = options.name;
    this.kind = options.kind;
    this.options = options;
    this.isFailure = options.isFailure ?? ((error) => !isCancellation(error));
    this.recoveryTimeoutMs = options.recoveryTimeoutMs ?? DEFAULT_RECOVERY_TIMEOUT_MS;
    if (!Number.isFinite(this.recoveryTimeoutMs) || this.recoveryTimeoutMs < 0) {
      throw new RangeError(`recoveryTimeoutMs must be a finite number >= 0, got ${this.recoveryTimeoutMs}`);
    }
    this.nextRecoveryMs = this.recoveryTimeoutMs;
    this.policy = this.createPolicy();
  }

  /** The current state. */
  get state(): BreakerState {
    return this.current;
  }

  /** While `open`: when the next probe is allowed. Otherwise undefined. */
  get retryAt(): Date | undefined {
    return this.current === BreakerState.OPEN && this.retryAtMs !== undefined ? new Date(this.retryAtMs) : undefined;
  }

  /**
   * Runs `fn` through the breaker. `fn` receives an AbortSignal that follows `signal`.
   *
   * @throws PatchbayError `CIRCUIT_OPEN` (without calling `fn`) while open, forced open,
   *   or while a half-open probe is running; `retryAfterSeconds` is set when known.
   * @throws whatever `fn` throws, unchanged.
   */
  async execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.disabled) return fn(signal ?? new AbortController().signal);
    const rejection = this.fastRejection();
    if (rejection) {
      this.rejections++;
      throw rejection;
    }

    const generation = this.generation;
    let invoked = false;
    try {
      return await this.policy.execute(async (context) => {
        invoked = true;
        try {
          const value = await fn(context.signal);
          if (generation === this.generation) this.successes++;
          return value;
        } catch (error) {
          // Counted before cockatiel sees it, so state-change listeners read fresh stats.
          if (generation === this.generation && this.isFailure(error)) this.recordFailure(error);
          throw error;
        }
      }, signal);
    } catch (error) {
      if (!invoked && error instanceof BrokenCircuitError) {
        this.rejections++;
        throw this.openError();
      }
      throw error;
    }
  }

  /** Holds the circuit open (`forced_open`) until {@link reset} or {@link forceClose}. */
  forceOpen(): void {
    if (this.current === BreakerState.FORCED_OPEN) return;
    this.disabled = false;
    this.isolation = this.policy.isolate();
  }

  /** Disables the breaker (`disabled`): every call runs, nothing is counted, until {@link reset} or {@link forceOpen}. */
  forceClose(): void {
    if (this.disabled) return;
    this.disabled = true;
    this.replacePolicy();
    this.clearOpenTimes();
    this.transition(BreakerState.DISABLED);
  }

  /** Back to `closed` with a fresh window; counters and last failure are cleared. */
  reset(): void {
    this.disabled = false;
    this.replacePolicy();
    this.clearOpenTimes();
    this.successes = 0;
    this.failures = 0;
    this.rejections = 0;
    this.lastFailureAtMs = undefined;
    this.lastFailureMessage = undefined;
    this.transition(BreakerState.CLOSED);
  }

  /** A snapshot of state and counters. */
  stats(): BreakerStats {
    return {
      state: this.current,
      successes: this.successes,
      failures: this.failures,
      rejections: this.rejections,
      lastFailureAt: this.lastFailureAtMs === undefined ? undefined : new Date(this.lastFailureAtMs),
      lastFailure: this.lastFailureMessage,
      openedAt: this.openedAtMs === undefined ? undefined : new Date(this.openedAtMs),
      retryAt: this.retryAt,
    };
  }

  /**
   * Subscribes to state changes; returns the unsubscribe function. Listeners run
   * synchronously inside the call that caused the change; errors they throw are ignored.
   */
  onStateChange(listener: (change: BreakerStateChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private fastRejection(): PatchbayError | undefined {
    switch (this.current) {
      case BreakerState.FORCED_OPEN:
        return this.openError();
      case BreakerState.OPEN:
        // Past retryAt (timer not run yet) cockatiel lets the probe through.
        return this.retryAtMs !== undefined && Date.now() < this.retryAtMs ? this.openError() : undefined;
      default:
        return this.policy.state === CircuitState.HalfOpen ? this.openError() : undefined;
    }
  }

  private openError(): PatchbayError {
    const state = this.current;
    let retryAfterSeconds: number | undefined;
    if (state === BreakerState.OPEN && this.retryAtMs !== undefined) {
      retryAfterSeconds = Math.max(1, Math.ceil((this.retryAtMs - Date.now()) / 1000));
    } else if (state === BreakerState.HALF_OPEN) {
      retryAfterSeconds = 1;
    }
    return new PatchbayError(ErrorCode.CIRCUIT_OPEN, `circuit breaker for ${this.kind} "${this.name}" is ${state}`, {
      details: { kind: this.kind, name: this.name, state },
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
  }

  private recordFailure(error: unknown): void {
    this.failures++;
    this.lastFailureAtMs = Date.now();
    this.lastFailureMessage = messageOf(error);
  }

  private createPolicy(): CircuitBreakerPolicy {
    const generation = ++this.generation;
    const recoveryBackoff = (context: IHalfOpenAfterBackoffContext): IBackoff<IHalfOpenAfterBackoffContext> => {
      const duration = this.recoveryDelayFor(context.result);
      if (generation === this.generation) this.nextRecoveryMs = duration;
      return { duration, next: recoveryBackoff };
    };
    const policy = circuitBreaker(
      handleWhen((error) => this.isFailure(error)),
      { halfOpenAfter: { next: recoveryBackoff }, breaker: this.createLibraryBreaker() },
    );
    this.subscriptions = [policy.onStateChange((state) => this.onLibraryState(generation, state))];
    return policy;
  }

  private createLibraryBreaker(): IBreaker {
    if (this.options.consecutiveFailures !== undefined) {
      assertPositiveInteger('consecutiveFailures', this.options.consecutiveFailures);
      return new ConsecutiveBreaker(this.options.consecutiveFailures);
    }
    const { threshold, windowMs, minimumCalls = DEFAULT_MINIMUM_CALLS } = this.options.failureRate;
    if (!(threshold > 0 && threshold < 1)) throw new RangeError(`failureRate.threshold must be in (0, 1), got ${threshold}`);
    if (!Number.isFinite(windowMs) || windowMs < 1) throw new RangeError(`failureRate.windowMs must be >= 1, got ${windowMs}`);
    assertPositiveInteger('failureRate.minimumCalls', minimumCalls);
    return new RollingWindowBreaker(threshold, windowMs, minimumCalls);
  }

  private recoveryDelayFor(result: FailureReason<unknown>): number {
    const override = 'error' in result ? this.options.recoveryTimeoutFor?.(result.error) : undefined;
    return override !== undefined && Number.isFinite(override) && override >= 0 ? override : this.recoveryTimeoutMs;
  }

  private replacePolicy(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
    this.isolation?.dispose();
    this.isolation = undefined;
    this.policy = this.createPolicy();
    this.nextRecoveryMs = this.recoveryTimeoutMs;
  }

  private onLibraryState(generation: number, libraryState: CircuitState): void {
    if (generation !== this.generation || this.disabled) return;
    const to = FROM_LIBRARY[libraryState];
    switch (to) {
      case BreakerState.OPEN: {
        const now = Date.now();
        this.openedAtMs = now;
        this.retryAtMs = now + this.nextRecoveryMs;
        this.scheduleHalfOpen(generation);
        break;
      }
      case BreakerState.FORCED_OPEN:
        this.clearOpenTimes();
        this.openedAtMs = Date.now();
        break;
      case BreakerState.HALF_OPEN:
        this.clearHalfOpenTimer();
        break;
      default:
        this.clearOpenTimes();
    }
    this.transition(to);
  }

  /** cockatiel only notices the end of the open period on the next call; announce it on time. */
  private scheduleHalfOpen(generation: number): void {
    this.clearHalfOpenTimer();
    const delay = Math.max(0, (this.retryAtMs ?? Date.now()) - Date.now());
    this.halfOpenTimer = setTimeout(() => {
      this.halfOpenTimer = undefined;
      if (generation === this.generation && this.current === BreakerState.OPEN) this.transition(BreakerState.HALF_OPEN);
    }, delay);
    this.halfOpenTimer.unref();
  }

  private clearHalfOpenTimer(): void {
    if (this.halfOpenTimer !== undefined) clearTimeout(this.halfOpenTimer);
    this.halfOpenTimer = undefined;
  }

  private clearOpenTimes(): void {
    this.clearHalfOpenTimer();
    this.openedAtMs = undefined;
    this.retryAtMs = undefined;
  }

  private transition(to: BreakerState): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    const retryAt = this.retryAt;
    const change: BreakerStateChange = retryAt ? { from, to, retryAt } : { from, to };
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch {
        // A faulty listener must not turn a call's outcome into an error.
      }
    }
  }
}

interface Bucket {
  startedAt: number;
  successes: number;
  failures: number;
}

/**
 * Failure-rate breaker over a time window, plugged into cockatiel's circuit breaker
 * policy. cockatiel's own SamplingBreaker advances one bucket per call, so after a quiet
 * period failures much older than the window still count (three failures, a quiet
 * minute, then one failure in four calls opens it); this one expires buckets by time.
 */
class RollingWindowBreaker implements IBreaker {
  private buckets: Bucket[] = [];
  private readonly bucketMs: number;

  constructor(
    private readonly threshold: number,
    private readonly windowMs: number,
    private readonly minimumCalls: number,
  ) {
    this.bucketMs = Math.min(1_000, windowMs / 5);
  }

  /** Serialised state for cockatiel's toJSON; hydrating it is not supported (starts empty). */
  get state(): unknown {
    return { buckets: this.buckets.map((bucket) => ({ ...bucket })) };
  }

  set state(_value: unknown) {
    this.buckets = [];
  }

  success(state: CircuitState): void {
    if (state === CircuitState.HalfOpen) this.buckets = [];
    this.current().successes++;
  }

  failure(state: CircuitState): boolean {
    this.current().failures++;
    if (state !== CircuitState.Closed) return true;
    let failures = 0;
    let total = 0;
    for (const bucket of this.buckets) {
      failures += bucket.failures;
      total += bucket.failures + bucket.successes;
    }
    return total >= this.minimumCalls && failures > this.threshold * total;
  }

  private current(): Bucket {
    const now = Date.now();
    while (this.buckets[0] !== undefined && now - this.buckets[0].startedAt >= this.windowMs) this.buckets.shift();
    const last = this.buckets.at(-1);
    if (last !== undefined && now - last.startedAt < this.bucketMs) return last;
    const bucket: Bucket = { startedAt: now, successes: 0, failures: 0 };
    this.buckets.push(bucket);
    return bucket;
  }
}

/** Builds the `breaker.changed.v1` payload for a breaker's state change. */
export function breakerChangedData(breaker: { readonly kind: string; readonly name: string }, change: BreakerStateChange): BreakerChangedData {
  const data: BreakerChangedData = { kind: breaker.kind, name: breaker.name, from: change.from, to: change.to };
  if (change.retryAt) data.retryAt = change.retryAt.toISOString();
  return data;
}
