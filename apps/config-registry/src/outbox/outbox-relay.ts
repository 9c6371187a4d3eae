import { EventType, parseEnvelope, type Bus, type ConnectorChange, type ConnectorType, type Envelope } from '@patchbay/core';
import type { SqlClient } from '../store/sql-client';

/** One relayed outbox message, handed to local listeners (the SSE `/v1/watch` feed). */
export interface PublishedChange {
  channel: string;
  envelope: Envelope;
  /** Set for connector messages. */
  change?: ConnectorChange;
}

export type PublishedListener = (published: PublishedChange) => void;

export interface OutboxRelayOptions {
  db: SqlClient;
  bus: Bus;
  /** Fallback poll for rows left by a crash or a bus outage; default 1000 ms. */
  pollIntervalMs?: number;
  /** Rows per transaction; default 100. */
  batchSize?: number;
  /** Published rows older than this are deleted; default 24 h. */
  retentionMs?: number;
  /** A publish that takes longer than this counts as failed (the row stays); default 5000 ms. */
  publishTimeoutMs?: number;
  /** Relay failures (bus down, database errors). They are retried, never thrown. */
  onError?: (error: unknown) => void;
  now?: () => number;
}

interface OutboxRecord {
  id: number | string;
  channel: string;
  payload: unknown;
}

const PURGE_EVERY_MS = 60_000;

function toChange(envelope: Envelope): ConnectorChange | undefined {
  const data = envelope.data as { configId?: unknown; type?: unknown; revision?: unknown; checksum?: unknown } | null;
  if (!data || typeof data.configId !== 'string' || typeof data.revision !== 'number') return undefined;
  if (envelope.type === EventType.CONNECTOR_CHANGED || envelope.type === EventType.CONNECTOR_DELETED) {
    return {
      revision: data.revision,
      configId: data.configId,
      type: data.type as ConnectorType,
      action: envelope.type === EventType.CONNECTOR_DELETED ? 'delete' : 'upsert',
      checksum: typeof data.checksum === 'string' ? data.checksum : null,
      at: envelope.at,
    };
  }
  return undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bus publish timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Publishes outbox rows to the bus in id (= commit) order and marks them published.
 *
 * Several replicas may relay: each batch takes a transaction-scoped advisory lock so only
 * one replica relays at a time (two relaying batches side by side would publish out of
 * order, and receivers drop revisions older than the last they applied), and claims its
 * rows with `FOR UPDATE SKIP LOCKED`. A failed publish stops the batch at that row, which
 * stays unpublished and is retried on the next kick or poll: delivery to the bus is
 * at-least-once, receivers de-duplicate by revision.
 */
export class OutboxRelay {
  private readonly db: SqlClient;
  private readonly bus: Bus;
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly retentionMs: number;
  private readonly publishTimeoutMs: number;
  private readonly onError: (error: unknown) => void;
  private readonly now: () => number;
  private readonly listeners = new Set<PublishedListener>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private rerun = false;
  private lastPurge = 0;
  private stopped = false;

  constructor(options: OutboxRelayOptions) {
    this.db = options.db;
    this.bus = options.bus;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.batchSize = options.batchSize ?? 100;
    this.retentionMs = options.retentionMs ?? 24 * 3600_000;
    this.publishTimeoutMs = options.publishTimeoutMs ?? 5000;
    this.onError = options.onError ?? (() => undefined);
    this.now = options.now ?? Date.now;
  }

  /** Starts the fallback poll and relays whatever is pending. */
  start(): void {
    this.stopped = false;
    if (!this.timer) {
      this.timer = setInterval(() => this.kick(), this.pollIntervalMs);
      this.timer.unref();
    }
    this.kick();
  }

  /** Stops polling and waits for the batch in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Relays pending rows now, in the background (call it right after a commit). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** Relays until nothing is pending or a publish fails; resolves with the rows published. */
  async drain(): Promise<number> {
    await this.running;
    let total = 0;
    for (;;) {
      const { published, claimed, failed } = await this.relayBatch();
      total += published;
      if (failed || claimed < this.batchSize) return total;
    }
  }

  /** Registers a listener called once per published message; returns the unregister function. */
  onPublished(listener: PublishedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async loop(): Promise<void> {
    do {
      this.rerun = false;
      try {
        let result;
        do result = await this.relayBatch();
        while (!result.failed && result.claimed === this.batchSize);
        await this.purgeIfDue();
      } catch (error) {
        this.onError(error);
      }
    } while (this.rerun && !this.stopped);
  }

  private async relayBatch(): Promise<{ published: number; claimed: number; failed: boolean }> {
    const sent: PublishedChange[] = [];
    let failed = false;
    let claimed = 0;
    await this.db.transaction(async (tx) => {
      const { rows: lock } = await tx.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock(hashtext('patchbay.outbox.relay.' || current_schema())) AS ok`);
      if (!lock[0]?.ok) return;
      const { rows } = await tx.query<OutboxRecord>(
        `SELECT id, channel, payload FROM outbox
          WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.batchSize],
      );
      const done: number[] = [];
      for (const row of rows) {
        const envelope = parseEnvelope(JSON.stringify(row.payload));
        if (envelope) {
          try {
            await withTimeout(this.bus.publish(row.channel, envelope), this.publishTimeoutMs);
          } catch (error) {
            failed = true;
            this.onError(error);
            break;
          }
          const change = toChange(envelope);
          sent.push(change ? { channel: row.channel, envelope, change } : { channel: row.channel, envelope });
        } else {
          this.onError(new Error(`outbox row ${row.id} is not a valid envelope; marking it published without sending`));
        }
        done.push(Number(row.id));
      }
      claimed = done.length;
      if (done.length > 0) {
        await tx.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [done]);
      }
    });
    // After commit: local listeners never see a message the database still calls pending.
    for (const published of sent) {
      for (const listener of this.listeners) {
        try {
          listener(published);
        } catch (error) {
          this.onError(error);
        }
      }
    }
    return { published: sent.length, claimed, failed };
  }

  private async purgeIfDue(): Promise<void> {
    const now = this.now();
    if (now - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now;
    // The database clock decides, like it did for published_at.
    await this.db.query(`DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1)`, [this.retentionMs / 1000]);
  }
}
