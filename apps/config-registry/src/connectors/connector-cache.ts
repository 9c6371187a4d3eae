import type { ConnectorRow } from './connector.model';

/**
 * Read-through cache of current connector rows for the hot read paths (get, resolve).
 *
 * Correctness rule: a row read from the store is only cached if no invalidation happened
 * while it was being read (a generation counter), so a read that raced a commit can never
 * put the old row back after the writer invalidated it. Writers on this replica
 * invalidate before their request returns (read-your-writes); writes of other replicas
 * invalidate when the change feed sees them.
 */
export class ConnectorCache {
  private readonly rows = new Map<string, ConnectorRow>();
  private generation = 0;

  constructor(private readonly maxEntries = 10_000) {}

  async get(configId: string, load: () => Promise<ConnectorRow | undefined>): Promise<ConnectorRow | undefined> {
    const hit = this.rows.get(configId);
    if (hit) return hit;
    const generation = this.generation;
    const row = await load();
    if (row && generation === this.generation) {
      if (this.rows.size >= this.maxEntries) {
        const oldest = this.rows.keys().next().value;
        if (oldest !== undefined) this.rows.delete(oldest);
      }
      this.rows.set(configId, row);
    }
    return row;
  }

  /** Drops one entry, or everything when `configId` is omitted. */
  invalidate(configId?: string): void {
    this.generation++;
    if (configId === undefined) this.rows.clear();
    else this.rows.delete(configId);
  }
}
