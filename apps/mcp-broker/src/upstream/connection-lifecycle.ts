import { BreakerState, ConnectionState, ConnectionStateMachine, computeBackoff, type CircuitBreaker } from '@patchbay/core';
import type { ServerHistory } from './server-history';

export interface LifecycleTiming {
  /** 0 disables health checks. */
  healthIntervalMs: number;
  /** Failed connection attempts in a row before the server is `dead`. */
  maxRetries: number;
  retryInitialMs: number;
  retryMaxMs: number;
}

/** What the lifecycle does to a connection; the server supplies it. */
export interface LifecycleSteps<Handle> {
  /** Opens a fresh connection (sessions opened, catalog listed). Rejects when the server cannot be reached. */
  open(): Promise<Handle>;
  /** Puts an opened connection in service. */
  adopt(handle: Handle): void;
  /** Closes a connection at once (one opened for nothing, or the one in service on a reconnect). */
  discard(handle: Handle): Promise<void>;
  /** The connection in service, if any. */
  current(): Handle | undefined;
  /** Checks that the connection in service answers. */
  probe(handle: Handle): Promise<void>;
  /** The server gave up: forget what it offered. */
  gaveUp(): void;
}

/**
 * The connection lifecycle of one server: connect loop with backoff, health checks,
 * reconnect after a loss, restart, close.
 *
 * States: `discovered` -> `connecting` -> `active`; a lost session or failed health
 * check -> `retrying` (backoff) -> `connecting` ... -> `dead` after `maxRetries` failed
 * attempts in a row. `restart()` brings a dead server back.
 */
export class ConnectionLifecycle<Handle> {
  readonly machine = new ConnectionStateMachine();
  /** Bumped by every new connect loop, restart and close: a running loop of an older generation stops. */
  private generation = 0;
  private wake: (() => void) | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private checkingHealth = false;
  private closedFlag = false;

  constructor(
    private readonly steps: LifecycleSteps<Handle>,
    private readonly breaker: CircuitBreaker,
    private readonly history: ServerHistory,
    private readonly timing: LifecycleTiming,
  ) {}

  get state(): ConnectionState {
    return this.machine.state;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  start(): void {
    void this.connectLoop('start');
  }

  /** Drops the connection and connects again (also revives a dead server). */
  async restart(reason: string): Promise<void> {
    if (this.closedFlag) return;
    this.history.restarts++;
    this.generation++;
    this.wake?.();
    // What the breaker counted belongs to the sessions being dropped.
    this.breaker.reset();
    await this.discardCurrent();
    void this.connectLoop(reason);
  }

  /** The connection in service was lost: `retrying`, then reconnect after a backoff. */
  async lost(reason: string): Promise<void> {
    if (this.closedFlag || this.state !== ConnectionState.ACTIVE) return;
    this.history.lastError = reason;
    this.history.restarts++;
    this.generation++;
    this.stopHealth();
    this.machine.transition(ConnectionState.RETRYING, reason);
    await this.discardCurrent();
    void this.connectLoop(reason, 1);
  }

  /** Stops every loop and timer and moves to `closed`; the caller closes the connection. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.generation++;
    this.wake?.();
    this.stopHealth();
    this.machine.transition(ConnectionState.CLOSED, 'removed');
  }

  private async discardCurrent(): Promise<void> {
    const handle = this.steps.current();
    if (handle !== undefined) await this.steps.discard(handle);
  }

  private isCurrent(generation: number): boolean {
    return !this.closedFlag && generation === this.generation;
  }

  private async connectLoop(reason: string, failuresSoFar = 0): Promise<void> {
    const generation = ++this.generation;
    let failures = failuresSoFar;
    if (failures > 0) await this.sleep(computeBackoff(failures, this.backoff()), generation);
    while (this.isCurrent(generation)) {
      this.machine.transition(ConnectionState.CONNECTING, failures === 0 ? reason : `attempt ${failures + 1}`);
      try {
        const handle = await this.steps.open();
        if (!this.isCurrent(generation)) {
          await this.steps.discard(handle);
          return;
        }
        this.steps.adopt(handle);
        // The breaker opened on the connection that was lost; this one just proved itself
        // (connected and listed its catalog), so calls go through at once.
        if (this.breaker.state === BreakerState.OPEN || this.breaker.state === BreakerState.HALF_OPEN) this.breaker.reset();
        this.machine.transition(ConnectionState.ACTIVE);
        this.startHealth();
        return;
      } catch (error) {
        if (!this.isCurrent(generation)) return;
        failures++;
        this.history.lastError = this.history.withStderr(error instanceof Error ? error.message : String(error));
        if (failures > this.timing.maxRetries) {
          this.machine.transition(ConnectionState.DEAD, `gave up after ${failures} failed attempts: ${this.history.lastError}`);
          this.steps.gaveUp();
          return;
        }
        this.machine.transition(ConnectionState.RETRYING, this.history.lastError);
        await this.sleep(computeBackoff(failures, this.backoff()), generation);
      }
    }
  }

  private backoff(): { initialDelayMs: number; maxDelayMs: number; multiplier: number; jitter: 'equal' } {
    return { initialDelayMs: this.timing.retryInitialMs, maxDelayMs: this.timing.retryMaxMs, multiplier: 2, jitter: 'equal' };
  }

  /** A backoff that a restart or close cuts short (see `wake`). */
  private sleep(ms: number, generation: number): Promise<void> {
    if (generation !== this.generation) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private startHealth(): void {
    this.stopHealth();
    if (this.timing.healthIntervalMs <= 0) return;
    this.healthTimer = setInterval(() => void this.checkHealth(), this.timing.healthIntervalMs);
    this.healthTimer.unref();
  }

  private stopHealth(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
  }

  private async checkHealth(): Promise<void> {
    const handle = this.steps.current();
    if (this.checkingHealth || this.state !== ConnectionState.ACTIVE || handle === undefined) return;
    this.checkingHealth = true;
    const generation = this.generation;
    try {
      await this.steps.probe(handle);
    } catch (error) {
      if (generation === this.generation) {
        await this.lost(`health check failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    } finally {
      this.checkingHealth = false;
    }
  }
}
