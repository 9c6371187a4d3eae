import type { EventId, EventStore, StreamId } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { Redis } from 'ioredis';

/** Events kept per session: a client that was away longer than this many events has lost some. */
const MAX_EVENTS_PER_SESSION = 1000;
/** And at most this many bytes of them in memory (tool results may be large). */
const MAX_EVENT_BYTES_PER_SESSION = 4 * 1024 * 1024;

/** One stored SSE event of a session. */
export interface StoredEvent {
  id: EventId;
  streamId: StreamId;
  /** Undefined for a priming event (an id and empty data: nothing to replay). */
  message: JSONRPCMessage | undefined;
}

/**
 * The SSE events the broker sent on 2025-era sessions' streams (Streamable HTTP
 * resumability): a client reconnecting with `Last-Event-ID` gets what it missed.
 * An event id is `<streamId>/<position>`, so the stream it belongs to is known from it alone.
 */
export interface SessionEvents {
  /** True when other replicas see the events (they may serve the session after this one). */
  readonly shared: boolean;
  /** The SDK's event store of one session's transport. */
  forSession(sessionId: string): EventStore;
  /**
   * The events of the stream `lastEventId` names that came after it.
   * @returns undefined when the id is not one of this session's (malformed or of another stream store).
   */
  after(sessionId: string, lastEventId: EventId): Promise<{ streamId: StreamId; events: StoredEvent[] } | undefined>;
  /** Drops a session's events (its client ended it). */
  remove(sessionId: string): Promise<void>;
  close(): Promise<void>;
}

/** Splits `<streamId>/<position>`; undefined when malformed. */
export function parseEventId(eventId: string): { streamId: StreamId; position: string } | undefined {
  const slash = eventId.lastIndexOf('/');
  if (slash <= 0 || slash === eventId.length - 1 || eventId.length > 200) return undefined;
  return { streamId: eventId.slice(0, slash), position: eventId.slice(slash + 1) };
}

/**
 * Adapts `after` to the SDK's store interface; priming events are not replayed (their data
 * is empty). An id this session never gave out is refused (400) before any replay.
 */
function eventStoreOf(events: SessionEvents, sessionId: string, store: (streamId: StreamId, message: JSONRPCMessage) => Promise<EventId>): EventStore {
  const looked = new Map<EventId, Promise<{ streamId: StreamId; events: StoredEvent[] } | undefined>>();
  const lookUp = (eventId: EventId): Promise<{ streamId: StreamId; events: StoredEvent[] } | undefined> => {
    const found = looked.get(eventId) ?? events.after(sessionId, eventId);
    // Only the latest look-up is kept: the SDK replays right after checking the id.
    looked.clear();
    looked.set(eventId, found);
    return found;
  };
  return {
    storeEvent: store,
    getStreamIdForEventId: async (eventId) => (await lookUp(eventId))?.streamId,
    replayEventsAfter: async (lastEventId, { send }) => {
      const found = await lookUp(lastEventId);
      looked.delete(lastEventId);
      if (!found) throw new Error(`unknown event id '${lastEventId.slice(0, 100)}'`);
      for (const event of found.events) if (event.message) await send(event.id, event.message);
      return found.streamId;
    },
  };
}

/** A priming event is stored as an empty object. */
function isPriming(message: JSONRPCMessage): boolean {
  return Object.keys(message).length === 0;
}

/** One replica, no Redis: each session's last events in memory. */
export class MemorySessionEvents implements SessionEvents {
  readonly shared = false;
  private readonly bySession = new Map<string, { next: number; bytes: number; events: { seq: number; bytes: number; event: StoredEvent }[] }>();

  constructor(
    private readonly maxEvents = MAX_EVENTS_PER_SESSION,
    private readonly maxBytes = MAX_EVENT_BYTES_PER_SESSION,
  ) {}

  forSession(sessionId: string): EventStore {
    return eventStoreOf(this, sessionId, async (streamId, message) => {
      let log = this.bySession.get(sessionId);
      if (!log) this.bySession.set(sessionId, (log = { next: 1, bytes: 0, events: [] }));
      const seq = log.next++;
      const id = `${streamId}/${seq}`;
      const priming = isPriming(message);
      const bytes = priming ? 0 : Buffer.byteLength(JSON.stringify(message));
      log.events.push({ seq, bytes, event: { id, streamId, message: priming ? undefined : message } });
      log.bytes += bytes;
      while (log.events.length > this.maxEvents || (log.bytes > this.maxBytes && log.events.length > 1)) log.bytes -= log.events.shift()?.bytes ?? 0;
      return id;
    });
  }

  async after(sessionId: string, lastEventId: EventId): Promise<{ streamId: StreamId; events: StoredEvent[] } | undefined> {
    const parsed = parseEventId(lastEventId);
    const seq = parsed ? Number(parsed.position) : NaN;
    const log = this.bySession.get(sessionId);
    if (!parsed || !Number.isSafeInteger(seq) || !log || seq >= log.next) return undefined;
    const events = log.events.filter((e) => e.seq > seq && e.event.streamId === parsed.streamId).map((e) => e.event);
    return { streamId: parsed.streamId, events };
  }

  async remove(sessionId: string): Promise<void> {
    this.bySession.delete(sessionId);
  }

  async close(): Promise<void> {
    this.bySession.clear();
  }
}

/**
 * Sessions' events as one Redis stream each, `<prefix>mcp:events:<id>` (capped at
 * {@link MAX_EVENTS_PER_SESSION}, expiring with the session's idle time), so any replica
 * replays them. Positions are the stream entries' ids.
 */
export class RedisSessionEvents implements SessionEvents {
  readonly shared = true;
  private readonly redis: Redis;
  private closed = false;
  private fallback = 0;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly maxEvents = MAX_EVENTS_PER_SESSION,
  ) {
    // Like the session store: a command waits a little for a reconnect, then fails.
    this.redis = new Redis(url, { maxRetriesPerRequest: 2 });
    this.redis.on('error', () => undefined);
  }

  forSession(sessionId: string): EventStore {
    return eventStoreOf(this, sessionId, async (streamId, message) => {
      const key = this.key(sessionId);
      const data = isPriming(message) ? '' : JSON.stringify(message);
      const added = this.closed
        ? undefined
        : await this.redis
            .multi()
            .xadd(key, 'MAXLEN', String(this.maxEvents), '*', 's', streamId, 'm', data)
            .pexpire(key, this.ttlMs)
            .exec()
            .then((replies) => replies?.[0]?.[1])
            .catch(() => undefined);
      // Redis unreachable (or shutting down): the event goes out unstored, with an id in Redis' own format so later ones still order after it.
      const position = typeof added === 'string' ? added : `${Date.now()}-${++this.fallback}`;
      return `${streamId}/${position}`;
    });
  }

  async after(sessionId: string, lastEventId: EventId): Promise<{ streamId: StreamId; events: StoredEvent[] } | undefined> {
    const parsed = parseEventId(lastEventId);
    if (!parsed || !/^\d+-\d+$/.test(parsed.position)) return undefined;
    const entries = await this.redis.xrange(this.key(sessionId), `(${parsed.position}`, '+');
    const events: StoredEvent[] = [];
    for (const [position, fields] of entries) {
      const streamId = fieldOf(fields, 's');
      const data = fieldOf(fields, 'm');
      if (streamId !== parsed.streamId) continue;
      events.push({ id: `${streamId}/${position}`, streamId, message: data ? (JSON.parse(data) as JSONRPCMessage) : undefined });
    }
    return { streamId: parsed.streamId, events };
  }

  async remove(sessionId: string): Promise<void> {
    if (!this.closed) await this.redis.del(this.key(sessionId));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private key(sessionId: string): string {
    return `${this.prefix}mcp:events:${sessionId}`;
  }
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
