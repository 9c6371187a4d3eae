import {
  BreakerState,
  CircuitBreaker,
  ConnectionState,
  ConnectionStateMachine,
  ErrorCode,
  PatchbayError,
  computeBackoff,
  type BackoffOptions,
  type BreakerStateChange,
  type StateChange,
} from '@patchbay/core';
import type { BrokerDriver, CloseReason, ConnectionSettings } from './driver';
import { ErrorHistory, errorMessage, type ConnectionStatus } from './connection-status';
import { HandleSlot } from './handle-slot';

/** What a connection reports to its broker (bus, metrics, logs). Every callback is synchronous. */
export interface ConnectionObserver<Spec, Handle> {
  state(connection: ManagedConnection<Spec, Handle>, change: StateChange): void;
  breaker(connection: ManagedConnection<Spec, Handle>, change: BreakerStateChange): void;
  /** A new handle took over: the connector changed, or a reconnect or restart succeeded. */
  swapped(connection: ManagedConnection<Spec, Handle>, reason: 'changed' | 'reconnected'): void;
  /** A retired handle was closed, after its work finished or its drain timed out. */
  drained(connection: ManagedConnection<Spec, Handle>, target: string, timedOut: boolean): void;
  /** One reconnect attempt while the connection was down. */
  reconnect(connection: ManagedConnection<Spec, Handle>, ok: boolean, error?: unknown): void;
}

export interface ManagedConnectionOptions<Spec, Handle> {
  /** Unique in the broker (see {@link PlannedConnection.id}). */
  id: string;
  configId: string;
  revision: number;
  spec: Spec;
  driver: BrokerDriver<Spec, Handle>;
  observer?: ConnectionObserver<Spec, Handle>;
  /** What the connector is called in errors, e.g. `database` gives "database connector 'X'". Default `connector`. */
  noun?: string;
}

/** Work that holds a handle beyond one call (a pinned session). */
export interface ConnectionLease<Handle> {
  readonly handle: Handle;
  /** Gives the handle back; an error is classified as in {@link ManagedConnection.reportError}. Idempotent. */
  release(error?: unknown): void;
}

export interface UseOptions {
  /** Aborts the work (passed on to it) and rejects with its reason. */
  signal?: AbortSignal;
}

/** Retry-After of a `dead` connection: nothing reconnects it until the connector changes or a restart. */
const DEAD_RETRY_AFTER_SECONDS = 30;
const DEFAULT_RECONNECT_INITIAL_MS = 100;

/**
 * One managed connection (a database pool, an LLM upstream, an MCP server): the live
 * handle opened by its driver, handles still draining after a swap, the connection state
 * machine, the circuit breaker, the reconnect loop and the periodic health probe.
 *
 * Gates of {@link use} and {@link lease}, in order: closed -> 404 NOT_FOUND; retrying or
 * dead -> 503 UPSTREAM_UNAVAILABLE with Retry-After (seconds to the next attempt);
 * breaker open -> 503 CIRCUIT_OPEN.
 *
 * A handle is closed only once no work runs on it (or after `drainTimeoutMs`): a swap
 * never fails work already started or queued on the old handle.
 */
export class ManagedConnection<Spec, Handle> {
  readonly id: string;
  readonly configId: string;
  readonly kind: string;
  private readonly driver: BrokerDriver<Spec, Handle>;
  private readonly observer: ConnectionObserver<Spec, Handle> | undefined;
  private readonly noun: string;
  private readonly machine = new ConnectionStateMachine();
  private breakerValue: CircuitBreaker;
  private settingsValue: ConnectionSettings;
  private current: HandleSlot<Spec, Handle>;
  private readonly draining = new Set<HandleSlot<Spec, Handle>>();
  private revisionValue: number;
  private readonly errors = new ErrorHistory();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  /** Failed opens since the last success (drives the backoff and `maxRetries`). */
  private failedAttempts = 0;
  private nextAttemptAt: number | undefined;
  private reconnecting = false;
  private closed = false;

  constructor(options: ManagedConnectionOptions<Spec, Handle>) {
    this.id = options.id;
    this.configId = options.configId;
    this.driver = options.driver;
    this.kind = options.driver.kind;
    this.observer = options.observer;
    this.noun = options.noun ?? 'connector';
    this.revisionValue = options.revision;
    this.settingsValue = options.driver.settings(options.spec);
    this.machine.onChange((change) => {
      if (change.to === ConnectionState.ACTIVE) this.errors.clear();
      this.observer?.state(this, change);
    });
    this.breakerValue = this.createBreaker(this.settingsValue);
    this.current = new HandleSlot(options.spec);
  }

  get state(): ConnectionState {
    return this.machine.state;
  }

  get breaker(): CircuitBreaker {
    return this.breakerValue;
  }

  get revision(): number {
    return this.revisionValue;
  }

  /** The spec new work runs with. */
  get spec(): Spec {
    return this.current.spec;
  }

  get settings(): ConnectionSettings {
    return this.settingsValue;
  }

  /** Connects the first time: `discovered -> connecting -> active` (or `retrying`). Idempotent. */
  start(): void {
    if (this.closed || this.machine.state !== ConnectionState.DISCOVERED) return;
    this.machine.transition(ConnectionState.CONNECTING, 'discovered');
    void this.openCurrent();
  }

  /**
   * Applies a newer revision. A spec with another fingerprint swaps handles at once: new
   * work goes to a new handle, the old one drains, then closes. New breaker settings
   * replace the breaker (closed).
   */
  update(revision: number, spec: Spec): void {
    this.revisionValue = Math.max(this.revisionValue, revision);
    if (this.closed || this.driver.fingerprint(spec) === this.driver.fingerprint(this.current.spec)) return;
    const settings = this.driver.settings(spec);
    const breakerChanged =
      settings.breakerFailures !== this.settingsValue.breakerFailures || settings.breakerRecoveryMs !== this.settingsValue.breakerRecoveryMs;
    this.settingsValue = settings;
    if (breakerChanged) this.replaceBreaker(settings);
    const old = this.current;
    this.current = new HandleSlot(spec);
    if (old.handle !== undefined || old.opening !== undefined) this.observer?.swapped(this, 'changed');
    void this.retire(old, 'swapped');
    this.stopHealth();
    const state = this.machine.state;
    if (state === ConnectionState.RETRYING) {
      this.scheduleReconnect(0);
      return;
    }
    if (state === ConnectionState.DISCOVERED) return;
    // The new slot opens itself: a reconnect still scheduled (a restart) is not needed.
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (state === ConnectionState.DEAD) this.failedAttempts = 0;
    this.machine.transition(ConnectionState.CONNECTING, `revision ${revision}`);
    void this.openCurrent();
  }

  /**
   * Runs `work` on the current handle through the gates and the breaker. An error is
   * classified by the driver: `connection` starts the reconnect loop, `connection` and
   * `failure` count against the breaker.
   * @throws PatchbayError NOT_FOUND (closed), UPSTREAM_UNAVAILABLE (down), CIRCUIT_OPEN; else what `work` throws.
   */
  use<T>(work: (handle: Handle, signal: AbortSignal) => Promise<T>, options?: UseOptions): Promise<T> {
    const refused = this.gate();
    if (refused) return Promise.reject(refused);
    const slot = this.current;
    slot.enter();
    const handle = slot.handle;
    if (handle !== undefined) return this.run(slot, handle, work, options?.signal);
    return this.whenOpen(slot).then(
      (opened) => this.run(slot, opened, work, options?.signal),
      (error: unknown) => {
        slot.leave();
        throw error;
      },
    );
  }

  /**
   * Takes the current handle for work that outlives one call (same gates as {@link use}).
   * The handle is not closed by a swap until the lease is released.
   */
  async lease(): Promise<ConnectionLease<Handle>> {
    const refused = this.gate();
    if (refused) throw refused;
    const slot = this.current;
    slot.enter();
    let handle: Handle;
    try {
      handle = await this.breakerValue.execute(async () => slot.handle ?? this.whenOpen(slot));
    } catch (error) {
      slot.leave();
      throw error;
    }
    return this.leaseOn(slot, handle);
  }

  /**
   * {@link lease} without a promise, for a caller that leases once per transaction: the
   * current handle when it is open, every gate passes and the breaker is closed (or
   * disabled); undefined otherwise, and the caller takes the {@link lease} path, which
   * answers with the gate's error or waits for the handle.
   */
  leaseNow(): ConnectionLease<Handle> | undefined {
    const breaker = this.breakerValue.state;
    if (breaker !== BreakerState.CLOSED && breaker !== BreakerState.DISABLED) return undefined;
    const slot = this.current;
    const handle = slot.handle;
    if (handle === undefined || this.gate() !== undefined) return undefined;
    slot.enter();
    return this.leaseOn(slot, handle);
  }

  private leaseOn(slot: HandleSlot<Spec, Handle>, handle: Handle): ConnectionLease<Handle> {
    let released = false;
    return {
      handle,
      release: (error?: unknown) => {
        if (released) return;
        released = true;
        slot.leave();
        if (error !== undefined) this.reportError(error);
      },
    };
  }

  /** An error seen outside {@link use} (e.g. inside a lease): a `connection` error starts the reconnect loop. */
  reportError(error: unknown): void {
    if (this.driver.classify(error) === 'connection') this.markDown(error);
  }

  /**
   * An error the handle survived (an idle pooled connection dropped): history while
   * active, the current error otherwise.
   */
  recordIncident(error: unknown): void {
    if (this.machine.state === ConnectionState.ACTIVE) this.errors.past(errorMessage(error));
    else this.errors.record(error);
  }

  /** Operator control of the breaker: hold it open, disable it, or reset it to closed. */
  controlBreaker(action: 'open' | 'disable' | 'reset'): void {
    if (action === 'open') this.breakerValue.forceOpen();
    else if (action === 'disable') this.breakerValue.forceClose();
    else this.breakerValue.reset();
  }

  /**
   * Opens a fresh handle now and swaps to it once it answers its probe (the old handle
   * drains); brings a `dead` connection back. Used when the driver knows the handle is
   * spent (an MCP server that exited) or by an operator.
   */
  restart(reason: string): void {
    if (this.closed || this.machine.state === ConnectionState.DISCOVERED) return;
    this.failedAttempts = 0;
    this.stopHealth();
    if (this.machine.state !== ConnectionState.RETRYING) this.machine.transition(ConnectionState.CONNECTING, reason);
    this.scheduleReconnect(0);
  }

  status(): ConnectionStatus {
    const retrying = this.machine.state === ConnectionState.RETRYING && this.nextAttemptAt !== undefined;
    const retryAt = retrying && this.nextAttemptAt !== undefined ? new Date(this.nextAttemptAt) : this.breakerValue.retryAt;
    const details = this.driver.details?.(
      this.current.handle,
      this.current.spec,
      [...this.draining].flatMap((slot) => (slot.handle === undefined ? [] : [slot.handle])),
    );
    const status: ConnectionStatus = {
      id: this.id,
      configId: this.configId,
      kind: this.kind,
      state: this.machine.state,
      breaker: this.breakerValue.state,
      revision: this.revisionValue,
      target: this.driver.describe(this.current.spec),
      lastError: this.errors.lastError(),
      previousError: this.errors.previousError(),
      retryAt: retryAt ? retryAt.toISOString() : null,
      ...details,
    };
    if (this.draining.size > 0) status.drainingHandles = this.draining.size;
    return status;
  }

  /**
   * No new work from now on; every handle drains (at most `drainTimeoutMs`), then closes.
   * Resolves once every handle is closed. Idempotent.
   */
  async close(reason: CloseReason = 'removed', drainTimeoutMs = this.settingsValue.drainTimeoutMs): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stopHealth();
    this.machine.transition(ConnectionState.CLOSED, reason);
    const slots = [this.current, ...this.draining];
    await Promise.all(slots.map((slot) => this.retire(slot, reason, drainTimeoutMs)));
  }

  private gate(): PatchbayError | undefined {
    if (this.closed) return PatchbayError.notFound(`${this.noun} connector '${this.configId}'`, { details: { configId: this.configId } });
    const state = this.machine.state;
    if (state === ConnectionState.RETRYING) {
      const seconds = this.nextAttemptAt === undefined ? 1 : Math.max(1, Math.ceil((this.nextAttemptAt - Date.now()) / 1000));
      const last = this.errors.message === undefined ? '' : ` (last error: ${this.errors.message})`;
      return new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `${this.noun} '${this.id}' is unreachable; reconnecting${last}`, {
        retryAfterSeconds: seconds,
        details: { configId: this.configId, state },
      });
    }
    if (state === ConnectionState.DEAD) {
      const last = this.errors.message === undefined ? '' : ` (last error: ${this.errors.message})`;
      return new PatchbayError(
        ErrorCode.UPSTREAM_UNAVAILABLE,
        `${this.noun} '${this.id}' is unreachable; gave up after ${this.failedAttempts} attempts${last}`,
        {
          retryAfterSeconds: DEAD_RETRY_AFTER_SECONDS,
          details: { configId: this.configId, state },
        },
      );
    }
    return undefined;
  }

  private run<T>(
    slot: HandleSlot<Spec, Handle>,
    handle: Handle,
    work: (handle: Handle, signal: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    return this.breakerValue
      .execute((breakerSignal) => work(handle, breakerSignal), signal)
      .then(
        (value) => {
          slot.leave();
          return value;
        },
        (error: unknown) => {
          slot.leave();
          // The breaker's own refusal says nothing new about the target.
          if (slot === this.current && !isCircuitOpen(error)) this.reportError(error);
          throw error;
        },
      );
  }

  /** The slot's handle once opened; a failed open answers with the gate's 503. */
  private whenOpen(slot: HandleSlot<Spec, Handle>): Promise<Handle> {
    if (slot.handle !== undefined) return Promise.resolve(slot.handle);
    if (slot.opening === undefined) return Promise.reject(this.gate() ?? unavailable(this.noun, this.id));
    return slot.opening.catch(() => {
      throw this.gate() ?? unavailable(this.noun, this.id);
    });
  }

  /** Opens the current slot's handle and probes it: `connecting -> active`, or down. */
  private async openCurrent(): Promise<void> {
    const slot = this.current;
    let handle: Handle;
    try {
      slot.opening = this.driver.open(slot.spec, { id: this.id, signal: slot.abort.signal, incident: (error) => this.recordIncident(error) });
      handle = await slot.opening;
      slot.handle = handle;
    } catch (error) {
      if (this.closed || slot !== this.current) return;
      this.failedOpen(error);
      return;
    } finally {
      slot.opening = undefined;
    }
    if (this.closed || slot !== this.current) return;
    try {
      await this.probe(slot, handle);
    } catch (error) {
      if (this.closed || slot !== this.current) return;
      if (this.driver.classify(error) !== 'caller') {
        this.failedOpen(error);
        return;
      }
      // The target answered, only not as the probe wished (e.g. a full pool): it serves.
      this.errors.record(error);
    }
    // A failure of work meanwhile may have marked it down: the reconnect loop decides then.
    if (this.closed || slot !== this.current || this.machine.state !== ConnectionState.CONNECTING) return;
    this.failedAttempts = 0;
    this.machine.transition(ConnectionState.ACTIVE, 'connected');
    this.startHealth();
  }

  private async probe(slot: HandleSlot<Spec, Handle>, handle: Handle): Promise<void> {
    if (!this.driver.probe) return;
    slot.enter();
    try {
      await this.driver.probe(handle, slot.spec, slot.abort.signal);
    } finally {
      slot.leave();
    }
  }

  private failedOpen(error: unknown): void {
    this.failedAttempts++;
    this.errors.record(error);
    const maxRetries = this.settingsValue.maxRetries;
    if (maxRetries !== undefined && this.failedAttempts > maxRetries) {
      if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
      this.nextAttemptAt = undefined;
      this.machine.transition(ConnectionState.DEAD, `gave up after ${this.failedAttempts} attempts: ${errorMessage(error)}`);
      return;
    }
    if (this.machine.state !== ConnectionState.RETRYING) this.machine.transition(ConnectionState.RETRYING, errorMessage(error));
    this.scheduleReconnect();
  }

  /** The current handle failed while in use: reject new work fast and reconnect with backoff. */
  private markDown(error: unknown): void {
    this.errors.record(error);
    const state = this.machine.state;
    if (this.closed || state === ConnectionState.RETRYING || state === ConnectionState.DEAD) return;
    this.stopHealth();
    this.machine.transition(ConnectionState.RETRYING, errorMessage(error));
    this.failedAttempts = 0;
    this.scheduleReconnect();
  }

  private scheduleReconnect(delayMs?: number): void {
    if (this.closed) return;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const delay = delayMs ?? computeBackoff(this.failedAttempts + 1, this.backoff());
    this.nextAttemptAt = Date.now() + delay;
    this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
    this.reconnectTimer.unref();
  }

  private backoff(): BackoffOptions {
    const max = this.settingsValue.reconnectMaxMs;
    return {
      initialDelayMs: Math.min(this.settingsValue.reconnectInitialMs ?? DEFAULT_RECONNECT_INITIAL_MS, max),
      maxDelayMs: max,
      multiplier: 2,
      jitter: 'full',
    };
  }

  /**
   * One reconnect attempt on a fresh handle, so a failure never touches the current one.
   * On success the fresh handle takes over: handles opened before an outage may be half-dead.
   */
  private async reconnect(): Promise<void> {
    this.reconnectTimer = undefined;
    if (this.closed || this.reconnecting) return;
    this.reconnecting = true;
    const spec = this.current.spec;
    const fresh = new HandleSlot<Spec, Handle>(spec);
    let handle: Handle | undefined;
    try {
      handle = await this.driver.open(spec, { id: this.id, signal: fresh.abort.signal, incident: (error) => this.recordIncident(error) });
      fresh.handle = handle;
      await this.probe(fresh, handle);
    } catch (error) {
      this.reconnecting = false;
      fresh.abort.abort();
      if (handle !== undefined) void this.closeHandle(handle, 'failed');
      if (this.closed) return;
      this.observer?.reconnect(this, false, error);
      if (spec === this.current.spec) this.failedOpen(error);
      else if (this.machine.state === ConnectionState.RETRYING) this.scheduleReconnect(0);
      return;
    }
    this.reconnecting = false;
    if (this.closed || spec !== this.current.spec) {
      // Closed or changed while probing: the fresh handle is for nothing (or an old target).
      fresh.abort.abort();
      void this.closeHandle(handle, 'failed');
      // Changed while probing: outside `retrying` the new slot is opening by itself.
      if (!this.closed && this.machine.state === ConnectionState.RETRYING) this.scheduleReconnect(0);
      return;
    }
    this.observer?.reconnect(this, true);
    const old = this.current;
    this.current = fresh;
    this.observer?.swapped(this, 'reconnected');
    void this.retire(old, 'reconnected');
    this.nextAttemptAt = undefined;
    const attempts = this.failedAttempts + 1;
    this.failedAttempts = 0;
    const breakerState = this.breakerValue.state;
    if (breakerState === BreakerState.OPEN || breakerState === BreakerState.HALF_OPEN) this.breakerValue.reset();
    this.machine.transition(ConnectionState.ACTIVE, `reconnected after ${attempts} attempt(s)`);
    this.startHealth();
  }

  /** Moves a slot out of service: waits for its work (bounded), then closes its handle. */
  private retire(slot: HandleSlot<Spec, Handle>, reason: CloseReason, timeoutMs = this.settingsValue.drainTimeoutMs): Promise<void> {
    if (slot !== this.current) this.draining.add(slot);
    return slot.idle(timeoutMs).then(async (timedOut) => {
      slot.abort.abort();
      const handle = slot.handle ?? (await slot.opening?.catch(() => undefined));
      this.draining.delete(slot);
      if (handle === undefined) return;
      slot.handle = undefined;
      await this.closeHandle(handle, reason);
      this.observer?.drained(this, this.driver.describe(slot.spec), timedOut);
    });
  }

  private async closeHandle(handle: Handle, reason: CloseReason): Promise<void> {
    try {
      await this.driver.close(handle, reason);
    } catch (error) {
      this.errors.past(`close failed: ${errorMessage(error)}`);
    }
  }

  private startHealth(): void {
    const interval = this.settingsValue.healthIntervalMs;
    if (!this.driver.probe || !interval || interval <= 0 || this.closed) return;
    this.stopHealth();
    this.healthTimer = setTimeout(() => void this.healthCheck(), interval);
    this.healthTimer.unref();
  }

  private stopHealth(): void {
    if (this.healthTimer) clearTimeout(this.healthTimer);
    this.healthTimer = undefined;
  }

  private async healthCheck(): Promise<void> {
    this.healthTimer = undefined;
    const slot = this.current;
    const handle = slot.handle;
    if (this.closed || handle === undefined || this.machine.state !== ConnectionState.ACTIVE) return;
    try {
      await this.probe(slot, handle);
    } catch (error) {
      if (slot === this.current && this.driver.classify(error) !== 'caller') {
        this.markDown(error);
        return;
      }
    }
    if (slot === this.current && this.machine.state === ConnectionState.ACTIVE) this.startHealth();
  }

  private createBreaker(settings: ConnectionSettings): CircuitBreaker {
    const breaker = new CircuitBreaker({
      name: this.id,
      kind: this.kind,
      consecutiveFailures: settings.breakerFailures,
      recoveryTimeoutMs: settings.breakerRecoveryMs,
      isFailure: (error) => this.driver.classify(error) !== 'caller',
      ...(this.driver.breakerRecoveryFor ? { recoveryTimeoutFor: (error: unknown) => this.driver.breakerRecoveryFor?.(error) } : {}),
    });
    breaker.onStateChange((change) => this.observer?.breaker(this, change));
    return breaker;
  }

  private replaceBreaker(settings: ConnectionSettings): void {
    const old = this.breakerValue;
    this.breakerValue = this.createBreaker(settings);
    if (old.state !== BreakerState.CLOSED) this.observer?.breaker(this, { from: old.state, to: BreakerState.CLOSED });
  }
}

function isCircuitOpen(error: unknown): boolean {
  return error instanceof PatchbayError && error.code === ErrorCode.CIRCUIT_OPEN;
}

function unavailable(noun: string, id: string): PatchbayError {
  return new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `${noun} '${id}' is not available`, { retryAfterSeconds: 1 });
}
