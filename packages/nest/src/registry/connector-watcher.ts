import { EventEmitter } from 'node:events';
import {
  Channel,
  ErrorCode,
  EventType,
  PatchbayError,
  isPatchbayError,
  type Bus,
  type ConnectorChangedData,
  type ConnectorType,
  type Envelope,
  type ResolvedConnector,
  type Subscription,
} from '@patchbay/core';
import type { Logger } from 'pino';
import type { RegistryReader } from '@patchbay/client';

export interface ConnectorWatcherOptions {
  client: RegistryReader;
  bus: Bus;
  /** Only connectors of these types are followed (default: all). */
  types?: readonly ConnectorType[];
  /**
   * Poll `/v1/changes` every `pollIntervalMs` because no shared bus exists (no Redis):
   * an in-memory bus does not cross processes.
   */
  polling: boolean;
  /** Poll period without Redis (default 1000 ms). */
  pollIntervalMs?: number;
  /** Safety resync period with Redis, since pub/sub is at-most-once (default 30 000 ms). */
  resyncIntervalMs?: number;
  logger?: Logger;
}

export interface ConnectorWatcherEvents {
  /** A connector appeared or changed (resolved, newer revision than before). */
  upsert: [connector: ResolvedConnector];
  /** A connector was deleted. */
  delete: [configId: string];
  /** The first full load finished. */
  synced: [];
}

interface ChangeHint {
  configId: string;
  type: ConnectorType;
  revision: number;
  deleted: boolean;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * Follows the registry's connectors for a broker (notify, then pull):
 * loads them at start, applies bus notifications whose revision is newer than the one
 * applied, resyncs from `/v1/changes?since=` when the bus resubscribes and periodically,
 * polls when there is no Redis, and reloads everything when the registry's revision
 * went backwards (a reset store). Never throws out of its loop: an unreachable registry
 * is retried with backoff, so a broker can start before the registry.
 */
export class ConnectorWatcher extends EventEmitter<ConnectorWatcherEvents> {
  private readonly connectors = new Map<string, ResolvedConnector>();
  /** Highest revision applied per configId, deletes included. */
  private readonly applied = new Map<string, number>();
  private cursor = 0;
  private isSynced = false;
  private stopped = true;
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Why the last registry step failed (a code, never a message: those may name internal URLs). */
  private lastFailure: ErrorCode | undefined;
  /** When the next scheduled registry step runs (epoch ms). */
  private nextAttemptAt = 0;
  private subscription: Subscription | undefined;
  private unregisterResubscribe: (() => void) | undefined;

  constructor(private readonly options: ConnectorWatcherOptions) {
    super();
  }

  /** True once the first full load succeeded. */
  get synced(): boolean {
    return this.isSynced;
  }

  /**
   * The one way a broker says "I cannot tell yet": call it where a connector lookup
   * would answer "not found". Before the first full load from the registry, an unknown
   * name may well exist, so the caller must retry rather than conclude it is missing.
   * @param what what was looked up, for the message (e.g. `database connector 'DB'`).
   * @throws PatchbayError UPSTREAM_UNAVAILABLE with `retryAfterSeconds` (until the next
   *   attempt) while not synced; returns once synced.
   */
  assertSynced(what: string): void {
    if (this.isSynced) return;
    const reason =
      this.lastFailure === undefined
        ? 'the first load is still running'
        : this.lastFailure === ErrorCode.UPSTREAM_UNAVAILABLE
          ? 'the registry is unreachable'
          : this.lastFailure === ErrorCode.TIMEOUT
            ? 'the registry did not answer in time'
            : `the registry answered with an error (${this.lastFailure})`;
    throw new PatchbayError(
      ErrorCode.UPSTREAM_UNAVAILABLE,
      `${what} cannot be looked up yet: connectors have not been loaded from the registry (${reason}); retry later`,
      { retryAfterSeconds: Math.max(1, Math.ceil((this.nextAttemptAt - Date.now()) / 1000)), details: { registrySynced: false } },
    );
  }

  /** The newest registry revision this watcher has caught up to. */
  get revision(): number {
    return this.cursor;
  }

  /** The current, resolved connector; undefined when unknown. */
  get(configId: string): ResolvedConnector | undefined {
    return this.connectors.get(configId);
  }

  all(): ResolvedConnector[] {
    return [...this.connectors.values()];
  }

  /** Subscribes and starts loading in the background; resolves without waiting for the registry. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    try {
      this.subscription = await this.options.bus.subscribe(Channel.CONFIG, (envelope) => this.onMessage(envelope));
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'bus subscribe failed; relying on resync');
    }
    this.unregisterResubscribe = this.options.bus.onResubscribed(() => void this.enqueue(() => this.resync('resubscribed')));
    void this.enqueue(() => this.tick());
  }

  /** Resolves once the first full load has happened (or rejects after `timeoutMs`). */
  waitUntilSynced(timeoutMs = 10_000): Promise<void> {
    if (this.isSynced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('synced', done);
        reject(new Error(`connectors not loaded from the registry within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.once('synced', done);
    });
  }

  /** Forces a resync now (also used by tests and admin endpoints). */
  resyncNow(): Promise<void> {
    return this.enqueue(() => this.resync('requested'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.unregisterResubscribe?.();
    await this.subscription?.unsubscribe().catch(() => undefined);
    await this.queue;
  }

  private onMessage(envelope: Envelope): void {
    if (envelope.type !== EventType.CONNECTOR_CHANGED && envelope.type !== EventType.CONNECTOR_DELETED) return;
    const data = envelope.data as Partial<ConnectorChangedData>;
    if (typeof data.configId !== 'string' || typeof data.revision !== 'number' || typeof data.type !== 'string') return;
    const hint: ChangeHint = {
      configId: data.configId,
      type: data.type,
      revision: data.revision,
      deleted: envelope.type === EventType.CONNECTOR_DELETED,
    };
    if (!this.follows(hint.type)) return;
    void this.enqueue(() => this.apply(hint));
  }

  private follows(type: ConnectorType): boolean {
    return !this.options.types || this.options.types.includes(type);
  }

  /**
   * Every registry interaction runs through one queue so changes apply in order. Never
   * rejects (a failed step is logged), so a caller that does not wait may drop it.
   */
  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.stopped) return;
      try {
        await task();
      } catch (error) {
        this.options.logger?.warn({ err: error }, 'registry sync step failed');
      }
    });
    this.queue = run;
    return run;
  }

  /** One scheduled step: the initial load until it succeeds, then periodic resyncs. */
  private async tick(): Promise<void> {
    try {
      if (this.isSynced) await this.resync('interval');
      else await this.fullLoad();
      this.failures = 0;
      this.lastFailure = undefined;
    } catch (error) {
      this.failures++;
      this.lastFailure = isPatchbayError(error) ? error.code : ErrorCode.UPSTREAM_UNAVAILABLE;
      this.options.logger?.warn({ err: error, failures: this.failures }, 'registry sync failed; will retry');
    }
    if (this.stopped) return;
    const base = this.options.polling ? (this.options.pollIntervalMs ?? 1000) : (this.options.resyncIntervalMs ?? 30_000);
    const delay = this.failures === 0 ? base : Math.min(MAX_BACKOFF_MS, base, 250 * 2 ** this.failures) * (0.5 + Math.random() / 2);
    this.nextAttemptAt = Date.now() + delay;
    this.timer = setTimeout(() => void this.enqueue(() => this.tick()), delay);
    this.timer.unref();
  }

  private async fullLoad(): Promise<void> {
    const types = this.options.types ?? [undefined];
    const seen = new Set<string>();
    let head = Number.POSITIVE_INFINITY;
    for (const type of types) {
      const page = await this.options.client.list(type);
      head = Math.min(head, page.head);
      for (const connector of page.items) {
        seen.add(connector.configId);
        await this.apply({ configId: connector.configId, type: connector.type, revision: connector.revision, deleted: false });
      }
    }
    for (const configId of [...this.connectors.keys()]) {
      if (!seen.has(configId)) this.remove(configId);
    }
    this.cursor = Number.isFinite(head) ? head : 0;
    if (!this.isSynced) {
      this.isSynced = true;
      this.emit('synced');
    }
  }

  private async resync(reason: string): Promise<void> {
    if (!this.isSynced) return this.fullLoad();
    for (;;) {
      const page = await this.options.client.changes(this.cursor);
      if (page.head < this.cursor) {
        this.options.logger?.warn({ head: page.head, cursor: this.cursor, reason }, 'registry revision went backwards; reloading');
        this.applied.clear();
        await this.fullLoad();
        return;
      }
      for (const change of page.changes) {
        if (this.follows(change.type)) {
          await this.apply({
            configId: change.configId,
            type: change.type,
            revision: change.revision,
            deleted: change.action === 'delete',
          });
        }
        this.cursor = Math.max(this.cursor, change.revision);
      }
      if (!page.more) {
        this.cursor = Math.max(this.cursor, page.head);
        return;
      }
    }
  }

  private async apply(hint: ChangeHint): Promise<void> {
    if (hint.revision <= (this.applied.get(hint.configId) ?? 0)) return;
    if (hint.deleted) {
      this.applied.set(hint.configId, hint.revision);
      this.remove(hint.configId);
      return;
    }
    const resolved = await this.options.client.resolve(hint.configId);
    if (!resolved) {
      this.applied.set(hint.configId, hint.revision);
      this.remove(hint.configId);
      return;
    }
    if (resolved.revision <= (this.applied.get(hint.configId) ?? 0)) return;
    this.applied.set(hint.configId, resolved.revision);
    this.connectors.set(hint.configId, resolved);
    this.emit('upsert', resolved);
  }

  private remove(configId: string): void {
    if (this.connectors.delete(configId)) this.emit('delete', configId);
  }
}
