import { Injectable } from '@nestjs/common';

/** A readiness check: resolves with details when usable, throws when not. */
export type ReadinessCheck = () => Promise<Record<string, unknown> | void>;

/**
 * Where a service registers what "ready" means for it (its store, the bus, its pools).
 * `/health/ready` runs every registered check.
 */
@Injectable()
export class ReadinessService {
  private readonly checks = new Map<string, ReadinessCheck>();
  private shuttingDown = false;

  /** Adds (or replaces) a named check. */
  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
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

  entries(): [string, ReadinessCheck][] {
    return [...this.checks.entries()];
  }
}
