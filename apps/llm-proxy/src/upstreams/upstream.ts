import { BreakerState, ConnectionState, type CircuitBreaker } from '@patchbay/core';
import type { ManagedConnection } from '@patchbay/nest';
import type { Pool } from 'undici';
import type { UpstreamOptions } from './connector-options';
import type { UpstreamSpec } from './llm-driver';
import type { Routable } from './router';

/** How long a connection that is reconnecting counts as unavailable when choosing whom to wait for. */
const RECONNECTING_MS = 1000;

/**
 * One `llm` connector as the router sees it: its routing data (models, priority, weight,
 * from the live spec), the 429 cool-down and the probe's findings. The broker runtime's
 * connection owns the pool, state, breaker, events and metrics.
 */
export class Upstream implements Routable {
  readonly configId: string;
  /** No attempt before this time (ms since epoch): the upstream asked for a pause (429). */
  cooldownUntil = 0;
  /** Models reported by the health probe, for catch-all connectors. */
  probedModels: string[] | undefined;
  probe: { ok: boolean; at: Date; error?: string } | undefined;

  constructor(readonly connection: ManagedConnection<UpstreamSpec, Pool>) {
    this.configId = connection.configId;
  }

  get spec(): UpstreamSpec {
    return this.connection.spec;
  }
  get options(): UpstreamOptions {
    return this.connection.spec.options;
  }
  get models(): readonly string[] | undefined {
    return this.connection.spec.options.models;
  }
  get priority(): number {
    return this.connection.spec.options.priority;
  }
  get weight(): number {
    return this.connection.spec.options.weight;
  }
  get breaker(): CircuitBreaker {
    return this.connection.breaker;
  }

  /** The connector changed: what was learnt about the old target no longer holds. */
  forget(): void {
    this.cooldownUntil = 0;
    this.probedModels = undefined;
    this.probe = undefined;
  }

  /** Milliseconds until this connector takes requests again (cool-down, open breaker, reconnecting); 0 = now. */
  unavailableForMs(now: number): number {
    const cooling = Math.max(0, this.cooldownUntil - now);
    const state = this.connection.state;
    if (state === ConnectionState.DEAD || state === ConnectionState.CLOSED) return Infinity;
    if (state === ConnectionState.RETRYING) return Math.max(cooling, RECONNECTING_MS);
    const breaker = this.connection.breaker;
    if (breaker.state === BreakerState.FORCED_OPEN) return Infinity;
    if (breaker.state === BreakerState.OPEN) return Math.max(cooling, (breaker.retryAt?.getTime() ?? now) - now);
    return cooling;
  }
}
