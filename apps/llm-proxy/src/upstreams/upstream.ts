import { BreakerState, CircuitBreaker, ConnectionState, ConnectionStateMachine, type BreakerStateChange, type StateChange } from '@patchbay/core';
import { Pool } from 'undici';
import { AttemptFailure, FailureKind } from '../proxy/classify';
import type { UpstreamOptions } from './connector-options';
import type { Routable } from './router';

/** Where an upstream's connection details came from. */
export type UpstreamSource = 'registry' | 'env';

/** Everything needed to reach one `llm` connector. Secrets stay inside this object. */
export interface UpstreamSpec {
  configId: string;
  url: string;
  /** Headers to send upstream (Authorization with the injected key). */
  headers: Record<string, string>;
  /** The raw key, only to scrub it from anything passed back to clients. */
  apiKey: string | undefined;
  options: UpstreamOptions;
  revision: number;
  source: UpstreamSource;
}

export interface BreakerSettings {
  failures: number;
  recoveryMs: number;
  authRecoveryMs: number;
}

export interface UpstreamListeners {
  onBreakerChange(upstream: Upstream, change: BreakerStateChange): void;
  onConnectionState(upstream: Upstream, change: StateChange): void;
}

function isCancellation(error: unknown): boolean {
  return !(error instanceof AttemptFailure) && typeof error === 'object' && error !== null && 'code' in error && error.code === 'CANCELLED';
}

/**
 * One `llm` connector at run time: its keep-alive pool, breaker, connection state and
 * 429 cool-down. Replaced in place when the registry changes it: a new URL or key gets
 * a new pool and a fresh breaker, the old pool drains its in-flight requests.
 */
export class Upstream implements Routable {
  readonly configId: string;
  spec!: UpstreamSpec;
  origin!: string;
  basePath!: string;
  pool!: Pool;
  breaker!: CircuitBreaker;
  /** No attempt before this time (ms since epoch): the upstream asked for a pause (429). */
  cooldownUntil = 0;
  /** Models reported by the health probe, for catch-all connectors. */
  probedModels: string[] | undefined;
  probe: { ok: boolean; at: Date; error?: string } | undefined;
  readonly state = new ConnectionStateMachine();
  private unsubscribeBreaker: (() => void) | undefined;

  constructor(
    spec: UpstreamSpec,
    private readonly breakerSettings: BreakerSettings,
    private readonly listeners: UpstreamListeners,
  ) {
    this.configId = spec.configId;
    this.state.onChange((change) => listeners.onConnectionState(this, change));
    this.apply(spec);
  }

  get models(): readonly string[] | undefined {
    return this.spec.options.models;
  }
  get priority(): number {
    return this.spec.options.priority;
  }
  get weight(): number {
    return this.spec.options.weight;
  }
  get options(): UpstreamOptions {
    return this.spec.options;
  }

  /** Applies a new spec; returns what had to be rebuilt. */
  apply(spec: UpstreamSpec): { reconnected: boolean } {
    const previous = this.spec as UpstreamSpec | undefined;
    this.spec = spec;
    const reconnect =
      !previous ||
      previous.url !== spec.url ||
      previous.apiKey !== spec.apiKey ||
      JSON.stringify(previous.headers) !== JSON.stringify(spec.headers) ||
      previous.options.connectTimeoutMs !== spec.options.connectTimeoutMs ||
      previous.options.maxConnections !== spec.options.maxConnections;
    const rebreak =
      reconnect ||
      previous.options.breakerFailures !== spec.options.breakerFailures ||
      previous.options.breakerRecoveryMs !== spec.options.breakerRecoveryMs;
    if (reconnect) {
      const url = new URL(spec.url);
      this.origin = url.origin;
      this.basePath = url.pathname.replace(/\/+$/, '');
      const old = this.pool as Pool | undefined;
      this.pool = new Pool(this.origin, {
        connections: spec.options.maxConnections,
        connect: { timeout: spec.options.connectTimeoutMs },
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        pipelining: 1,
      });
      // In-flight requests finish on the old pool; new ones use the new one.
      if (old) void old.close().catch(() => undefined);
      this.cooldownUntil = 0;
      this.probedModels = undefined;
      this.probe = undefined;
      if (previous) this.moveTo(ConnectionState.CONNECTING, 'connector changed');
    }
    if (rebreak) this.createBreaker();
    return { reconnected: reconnect };
  }

  /** Moves the connection state, through `connecting` when the table needs it. */
  moveTo(state: ConnectionState, reason?: string): void {
    const current = this.state.state;
    if (current === state || current === ConnectionState.CLOSED) return;
    if (state !== ConnectionState.CONNECTING && state !== ConnectionState.CLOSED && current === ConnectionState.DISCOVERED) {
      this.state.transition(ConnectionState.CONNECTING, reason);
    } else if (current === ConnectionState.DEAD && state !== ConnectionState.CONNECTING && state !== ConnectionState.CLOSED) {
      this.state.transition(ConnectionState.CONNECTING, reason);
    }
    this.state.transition(state, reason);
  }

  /** Seconds until this connector takes requests again (cool-down or open breaker); 0 = now. */
  unavailableForMs(now: number): number {
    const cooling = Math.max(0, this.cooldownUntil - now);
    const state = this.breaker.state;
    if (state === BreakerState.FORCED_OPEN) return Infinity;
    if (state === BreakerState.OPEN) return Math.max(cooling, (this.breaker.retryAt?.getTime() ?? now) - now);
    return cooling;
  }

  async close(): Promise<void> {
    this.unsubscribeBreaker?.();
    this.moveTo(ConnectionState.CLOSED, 'connector removed');
    await this.pool.close().catch(() => undefined);
  }

  private createBreaker(): void {
    this.unsubscribeBreaker?.();
    const { authRecoveryMs } = this.breakerSettings;
    this.breaker = new CircuitBreaker({
      name: this.configId,
      kind: 'llm-upstream',
      consecutiveFailures: this.spec.options.breakerFailures ?? this.breakerSettings.failures,
      recoveryTimeoutMs: this.spec.options.breakerRecoveryMs ?? this.breakerSettings.recoveryMs,
      recoveryTimeoutFor: (error) => (error instanceof AttemptFailure && error.kind === FailureKind.AUTH ? authRecoveryMs : undefined),
      isFailure: (error) => (error instanceof AttemptFailure ? error.countsAgainstBreaker : !isCancellation(error)),
    });
    this.unsubscribeBreaker = this.breaker.onStateChange((change) => {
      if (change.to === BreakerState.OPEN || change.to === BreakerState.FORCED_OPEN) this.moveTo(ConnectionState.DEAD, 'breaker open');
      else if (change.to === BreakerState.HALF_OPEN) this.moveTo(ConnectionState.CONNECTING, 'breaker probing');
      this.listeners.onBreakerChange(this, change);
    });
  }
}
