import { Redis } from 'ioredis';

/**
 * What another replica needs to serve a 2025-era session it did not open: who owns it,
 * where it was opened, and the client's `initialize` (its capabilities and version).
 */
export interface SessionRecord {
  id: string;
  /** The token's name: a session answers only the token that opened it. */
  token: string;
  /** The virtual server it was opened on, null for `/mcp`. */
  virtual: string | null;
  /** The `initialize` request's params, replayed on a replica that adopts the session. */
  initialize: Record<string, unknown>;
  /** What the client asked for since, kept when the session moves to another replica. */
  state?: SharedSessionState;
}

/** A session's own settings that upstream notifications are filtered by. */
export interface SharedSessionState {
  /** The level of `logging/setLevel`, if the client set one. */
  logLevel?: string;
  /** Resource uris of `resources/subscribe`. */
  subscriptions: string[];
}

/** Where sessions are shared between replicas. */
export interface SessionStore {
  save(record: SessionRecord, ttlMs: number): Promise<void>;
  load(id: string): Promise<SessionRecord | undefined>;
  /** Records what the client asked for (log level, subscriptions); a session no longer stored stays gone. */
  saveState(id: string, state: SharedSessionState, ttlMs: number): Promise<void>;
  /** Keeps a session in use from expiring. */
  touch(id: string, ttlMs: number): Promise<void>;
  remove(id: string): Promise<void>;
  close(): Promise<void>;
}

/** One replica, no Redis: nothing is shared. */
export class LocalSessionStore implements SessionStore {
  async save(): Promise<void> {}
  async load(): Promise<SessionRecord | undefined> {
    return undefined;
  }
  async saveState(): Promise<void> {}
  async touch(): Promise<void> {}
  async remove(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Sessions as Redis keys `<prefix>mcp:session:<id>` that expire after the idle time. */
export class RedisSessionStore implements SessionStore {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
  ) {
    // Commands wait for a reconnect a little, then fail: a session lookup must not hang a request.
    this.redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: false });
    this.redis.on('error', () => undefined);
  }

  async save(record: SessionRecord, ttlMs: number): Promise<void> {
    await this.redis.set(this.key(record.id), JSON.stringify(record), 'PX', ttlMs);
  }

  async load(id: string): Promise<SessionRecord | undefined> {
    const text = await this.redis.get(this.key(id));
    if (text === null) return undefined;
    const value = JSON.parse(text) as unknown;
    return isRecord(value) ? value : undefined;
  }

  async saveState(id: string, state: SharedSessionState, ttlMs: number): Promise<void> {
    const record = await this.load(id);
    if (record) await this.save({ ...record, state }, ttlMs);
  }

  async touch(id: string, ttlMs: number): Promise<void> {
    await this.redis.pexpire(this.key(id), ttlMs);
  }

  async remove(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private key(id: string): string {
    return `${this.prefix}mcp:session:${id}`;
  }
}

function isRecord(value: unknown): value is SessionRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r['id'] === 'string' &&
    typeof r['token'] === 'string' &&
    (r['virtual'] === null || typeof r['virtual'] === 'string') &&
    typeof r['initialize'] === 'object'
  );
}
