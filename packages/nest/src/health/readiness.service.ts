import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';

/** A readiness check: resolves with details when usable, throws when not. */
export type ReadinessCheck = () => Promise<Record<string, unknown> | void>;

export interface ReadinessCheckOptions {
  /**
   * Whether a failing check makes the service not ready (default true). A dependency the
   * service can serve without (the bus: brokers fall back to polling) is `false`: it is
   * reported as down in the details while `/health/ready` stays 200, so a load balancer
   * does not take every replica out during, say, a Redis outage.
   */
  required?: boolean;
}

/** A registered check, as `/health/ready` runs it. */
export interface ReadinessEntry {
  name: string;
  check: ReadinessCheck;
  required: boolean;
}

/**
 * Where a service registers what "ready" means for it (its store, the bus, its pools).
 * `/health/ready` runs every registered check. Ready means "can serve": only required
 * checks decide it, the others show as degraded in the report.
 */
@Injectable()
export class ReadinessService implements BeforeApplicationShutdown {
  private readonly checks = new Map<string, ReadinessEntry>();
  private shuttingDown = false;

  /** Adds (or replaces) a named check. */
  register(name: string, check: ReadinessCheck, options: ReadinessCheckOptions = {}): void {
    this.checks.set(name, { name, check, required: options.required ?? true });
  }

  unregister(name: string): void {
    this.checks.delete(name);
  }

  /** Called at shutdown so load balancers stop routing here before the server closes. */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** However the app is closed (signal or `app.close()`), new requests get 503 from here on. */
  beforeApplicationShutdown(): void {
    this.markShuttingDown();
  }

  entries(): ReadinessEntry[] {
    return [...this.checks.values()];
  }
}
