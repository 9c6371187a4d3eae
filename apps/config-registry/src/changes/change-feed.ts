import { Channel, type Bus, type ConnectorChange, type Subscription } from '@patchbay/core';
import type { Logger } from 'pino';
import { maySee, type Caller } from '../connectors/connector-access';
import type { ConnectorService } from '../connectors/connector.service';
import type { OutboxRelay } from '../outbox/outbox-relay';

type ChangeListener = (change: ConnectorChange) => void;

/** How often the feed looks for changes written by other replicas when nobody told it. */
const FALLBACK_POLL_MS = 5000;

/**
 * One ordered stream of committed connector changes for every watcher of this replica
 * (SSE `/v1/watch`, gRPC `WatchChanges`). It is notified by the local outbox relay and
 * by the bus (writes of other replicas), and pulls from the store each time, so what it
 * emits is always in revision order, without gaps, whatever order notifications arrive in.
 */
export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();
  /** Wakes every waiting stream (used at close). */
  private readonly wakers = new Set<() => void>();
  private cursor = 0;
  private pulling: Promise<void> = Promise.resolve();
  private pending = false;
  private subscription: Subscription | undefined;
  private unsubscribeRelay: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly service: ConnectorService,
    private readonly relay: OutboxRelay,
    private readonly bus: Bus,
    private readonly logger: Logger,
  ) {}

  /** The newest revision the feed has emitted. */
  get revision(): number {
    return this.cursor;
  }

  async start(): Promise<void> {
    this.cursor = await this.service.headRevision();
    this.unsubscribeRelay = this.relay.onPublished(() => this.notify());
    this.subscription = await this.bus.subscribe(Channel.CONFIG, () => this.notify());
    this.timer = setInterval(() => this.notify(), FALLBACK_POLL_MS);
    this.timer.unref();
  }

  /** Asks the feed to pull new changes (coalesced while a pull runs). */
  notify(): void {
    if (this.closed || this.pending) return;
    this.pending = true;
    this.pulling = this.pulling.then(async () => {
      this.pending = false;
      try {
        await this.pull();
      } catch (error) {
        this.logger.warn({ err: error }, 'change feed pull failed');
      }
    });
  }

  private async pull(): Promise<void> {
    for (;;) {
      const page = await this.service.changes(this.cursor);
      if (page.head < this.cursor) {
        // The store was reset behind us; start again from its head.
        this.service.invalidate();
        this.cursor = page.head;
        return;
      }
      for (const change of page.changes) {
        this.cursor = change.revision;
        // Writes of other replicas reach this one here; local writes already invalidated.
        this.service.invalidate(change.configId);
        for (const listener of this.listeners) listener(change);
      }
      if (!page.more) return;
    }
  }

  /**
   * Changes after `since` (the backlog, read from the store), then live ones, in order
   * and without duplicates, until `signal` aborts. `since` undefined = live only. Only
   * changes of connectors the caller may see.
   */
  async *stream(since: number | undefined, signal: AbortSignal, caller?: Caller): AsyncGenerator<ConnectorChange> {
    const buffered: ConnectorChange[] = [];
    let wake: (() => void) | undefined;
    const listener: ChangeListener = (change) => {
      if (!maySee(caller, change.configId)) return;
      buffered.push(change);
      wake?.();
    };
    const onAbort = (): void => wake?.();
    // Subscribe before reading the backlog so nothing committed in between is missed.
    this.listeners.add(listener);
    this.wakers.add(onAbort);
    signal.addEventListener('abort', onAbort);
    let last = since ?? this.cursor;
    try {
      if (since !== undefined) {
        for (;;) {
          const page = await this.service.changes(last, undefined, caller);
          for (const change of page.changes) {
            if (signal.aborted) return;
            last = change.revision;
            yield change;
          }
          if (!page.more) break;
        }
      }
      while (!signal.aborted && !this.closed) {
        const change = buffered.shift();
        if (change) {
          if (change.revision <= last) continue;
          last = change.revision;
          yield change;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      this.listeners.delete(listener);
      this.wakers.delete(onAbort);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Ends every stream and stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribeRelay?.();
    await this.subscription?.unsubscribe().catch(() => undefined);
    for (const wake of this.wakers) wake();
    await this.pulling;
  }
}
