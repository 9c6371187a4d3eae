import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Bus, EnvelopeHandler, Subscription } from '../bus/bus';
import { parseEnvelope } from '../bus/envelope';
import type { Envelope } from '../bus/envelope';
import { ErrorCode, PatchbayError } from '../errors';

/** Options of {@link RedisBus}. */
export interface RedisBusOptions {
  /** `redis://[user:password@]host:port[/db]`; never logged. */
  url: string;
  /** Key prefix; logical channel `c` maps to Redis channel `<prefix>events:<c>`. Default `patchbay:`. */
  prefix?: string;
  /**
   * Reports what the bus cannot throw: connection errors, invalid messages it dropped,
   * handler errors, failed background unsubscribes. Default: ignored.
   */
  onError?: (error: Error) => void;
  /** Base of the Redis client names (`CLIENT LIST`): `<name>:pub` and `<name>:sub`. Default `patchbay-bus`. */
  connectionName?: string;
  /**
   * Upper bound for one publish in ms, time spent waiting for a reconnect included.
   * Default 5 000.
   */
  publishTimeoutMs?: number;
}

const DEFAULT_PREFIX = 'patchbay:';
const DEFAULT_CONNECTION_NAME = 'patchbay-bus';
const DEFAULT_PUBLISH_TIMEOUT_MS = 5_000;

/** Reconnect delay: 50 ms doubling up to 2 s, forever. */
function reconnectDelay(times: number): number {
  return Math.min(50 * 2 ** Math.min(times - 1, 6), 2_000);
}

const noop = (): void => undefined;

interface ChannelEntry {
  handlers: Set<EnvelopeHandler>;
  /** Settles when Redis confirmed the SUBSCRIBE for this entry. */
  active: Promise<void>;
}

/**
 * The {@link Bus} over Redis pub/sub (at-most-once; see ARCHITECTURE.md section 5).
 *
 * Two connections: one publishes, a dedicated one subscribes. Both reconnect forever
 * (50 ms doubling to 2 s). After a lost subscriber connection ioredis re-subscribes
 * every channel; once Redis has confirmed that, {@link RedisBus.onResubscribed}
 * listeners fire so receivers resync what they may have missed.
 *
 * Publishing while Redis is unreachable waits for a reconnect for a short while and
 * then rejects (`UNAVAILABLE`; at most `publishTimeoutMs`), so a publisher such as an
 * outbox relay can keep the message and try again. A publish that rejected on timeout
 * may still reach Redis once it is back: receivers must tolerate duplicates (they do,
 * by revision).
 */
export class RedisBus implements Bus {
  private readonly prefix: string;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly onError: (error: Error) => void;
  /** Keyed by Redis channel name. */
  private readonly channels = new Map<string, ChannelEntry>();
  private readonly resubscribedListeners = new Set<() => void>();
  private subscriberWasReady = false;
  private closing: Promise<void> | undefined;

  constructor(options: RedisBusOptions) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.onError = options.onError ?? noop;
    const name = options.connectionName ?? DEFAULT_CONNECTION_NAME;
    // A short disconnectTimeout: closing while reconnecting otherwise leaves a 2 s timer
    // on the dead socket that holds the process open.
    const common: RedisOptions = { retryStrategy: reconnectDelay, connectTimeout: 5_000, disconnectTimeout: 200 };

    this.publisher = new Redis(options.url, {
      ...common,
      connectionName: `${name}:pub`,
      // Fail queued publishes after two failed reconnects (a blip survives, an outage
      // fails fast), and never later than the publish timeout (a silent network too).
      maxRetriesPerRequest: 1,
      commandTimeout: options.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS,
    });
    this.subscriber = new Redis(options.url, {
      ...common,
      connectionName: `${name}:sub`,
      autoResubscribe: true,
      // Never flush the subscriber's queue: ioredis re-sends SUBSCRIBEs that were in
      // flight when the connection dropped, and a flush would lose them for good.
      maxRetriesPerRequest: null,
    });

    this.publisher.on('error', (error: Error) => this.report(error));
    this.subscriber.on('error', (error: Error) => this.report(error));
    this.subscriber.on('message', (channel: string, message: string) => this.dispatch(channel, message));
    this.subscriber.on('ready', () => this.onSubscriberReady());
  }

  /** True while the subscriber connection is up (messages can arrive). */
  get connected(): boolean {
    return this.closing === undefined && this.subscriber.status === 'ready';
  }

  /**
   * Publishes `envelope` as JSON on `<prefix>events:<channel>`.
   *
   * @throws PatchbayError `UNAVAILABLE` when the bus is closed or Redis could not take
   *   the message in time.
   */
  async publish(channel: string, envelope: Envelope): Promise<void> {
    this.assertOpen();
    try {
      await this.publisher.publish(this.redisChannel(channel), JSON.stringify(envelope));
    } catch (error) {
      throw new PatchbayError(ErrorCode.UNAVAILABLE, `bus publish on "${channel}" failed: ${messageOf(error)}`, { cause: error });
    }
  }

  /**
   * Subscribes `handler` to `channel`; resolves once Redis confirmed the subscription.
   * While Redis is unreachable this waits for the reconnect. Invalid messages are
   * dropped and reported to `onError`; handler errors are reported, never rethrown.
   *
   * @throws PatchbayError `UNAVAILABLE` when the bus is (or gets) closed.
   */
  async subscribe(channel: string, handler: EnvelopeHandler): Promise<Subscription> {
    this.assertOpen();
    const key = this.redisChannel(channel);
    let entry = this.channels.get(key);
    if (!entry) {
      const created: ChannelEntry = {
        handlers: new Set(),
        active: this.subscriberWritable()
          .then(() => this.subscriber.subscribe(key))
          .then(noop),
      };
      created.active.catch(() => {
        if (this.channels.get(key) === created) this.channels.delete(key);
      });
      this.channels.set(key, created);
      entry = created;
    }
    const current = entry;
    current.handlers.add(handler);
    try {
      await current.active;
    } catch (error) {
      current.handlers.delete(handler);
      throw new PatchbayError(ErrorCode.UNAVAILABLE, `bus subscribe to "${channel}" failed: ${messageOf(error)}`, { cause: error });
    }

    let subscribed = true;
    return {
      unsubscribe: async () => {
        if (!subscribed) return;
        subscribed = false;
        current.handlers.delete(handler);
        if (current.handlers.size > 0 || this.channels.get(key) !== current) return;
        this.channels.delete(key);
        if (this.closing) return;
        const done = this.subscriber.unsubscribe(key).then(noop, (error: unknown) => this.report(error));
        // Offline, the UNSUBSCRIBE runs after the reconnect; the handler is gone already.
        if (this.subscriber.status === 'ready') await done;
      },
    };
  }

  /** Fires after a lost subscriber connection was re-established and re-subscribed. */
  onResubscribed(listener: () => void): () => void {
    this.resubscribedListeners.add(listener);
    return () => {
      this.resubscribedListeners.delete(listener);
    };
  }

  /**
   * Closes both connections: in-flight publishes finish (QUIT), queued ones are rejected.
   * Idempotent; later publish and subscribe calls reject.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.channels.clear();
      this.resubscribedListeners.clear();
      await Promise.all([closeClient(this.publisher), closeClient(this.subscriber)]);
    })();
    return this.closing;
  }

  /**
   * Resolves when a SUBSCRIBE may be sent. Between the socket's connect and the end of its
   * ready check (INFO) ioredis writes a SUBSCRIBE at once: the connection turns subscriber
   * mode, the ready check fails ("Connection in subscriber mode") and the reconnect loses
   * the subscription. In every other status ioredis queues it until ready.
   */
  private subscriberWritable(): Promise<void> {
    if (this.subscriber.status !== 'connect') return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.subscriber.off('ready', done);
        this.subscriber.off('end', done);
        resolve();
      };
      this.subscriber.on('ready', done);
      this.subscriber.on('end', done);
    });
  }

  private redisChannel(channel: string): string {
    return `${this.prefix}events:${channel}`;
  }

  private assertOpen(): void {
    if (this.closing) throw new PatchbayError(ErrorCode.UNAVAILABLE, 'bus is closed');
  }

  private onSubscriberReady(): void {
    if (!this.subscriberWasReady) {
      this.subscriberWasReady = true;
      return;
    }
    // ioredis wrote the SUBSCRIBEs for the old channels just before 'ready'; a PING queued
    // behind them on the same connection is answered only after Redis processed them.
    this.subscriber.ping().then(
      () => {
        if (this.closing) return;
        for (const listener of [...this.resubscribedListeners]) {
          try {
            listener();
          } catch (error) {
            this.report(error);
          }
        }
      },
      (error: unknown) => {
        if (!this.closing) this.report(error);
      },
    );
  }

  private dispatch(redisChannel: string, raw: string): void {
    const entry = this.channels.get(redisChannel);
    if (!entry || entry.handlers.size === 0) return;
    const envelope = parseEnvelope(raw);
    if (!envelope) {
      this.report(new PatchbayError(ErrorCode.VALIDATION, `dropped an invalid message on ${redisChannel}`));
      return;
    }
    let first = true;
    for (const handler of [...entry.handlers]) {
      // Each handler gets its own copy, as with the in-memory bus.
      const copy = first ? envelope : structuredClone(envelope);
      first = false;
      (async () => handler(copy))().catch((error: unknown) => this.report(error));
    }
  }

  private report(error: unknown): void {
    try {
      this.onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // onError must not break the connection's event loop.
    }
  }
}

/** Closes one client and waits until its socket is gone, so the process can exit. */
async function closeClient(client: Redis): Promise<void> {
  switch (client.status) {
    case 'end':
      return;
    case 'wait':
    case 'reconnecting':
    case 'close':
      // No live socket: nothing to wait for.
      client.disconnect();
      return;
    default: {
      const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
      await ended;
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Readiness probe: connects to `url`, sends PING and disconnects.
 *
 * @param timeoutMs - bound for the whole check, in ms (default 1 000).
 * @returns the round trip (connect and PING) in ms.
 * @throws PatchbayError `UNAVAILABLE` when Redis is unreachable or does not answer in time.
 */
export async function pingRedis(url: string, timeoutMs = 1_000): Promise<number> {
  const started = Date.now();
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    disconnectTimeout: 200,
  });
  client.on('error', noop);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([client.connect().then(() => client.ping()), timeout]);
    return Date.now() - started;
  } catch (error) {
    throw new PatchbayError(ErrorCode.UNAVAILABLE, `redis is not reachable: ${messageOf(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
    // After a failed connect the client has ended; disconnecting it again would arm a
    // timer on the dead socket.
    if (client.status !== 'end') client.disconnect();
  }
}
