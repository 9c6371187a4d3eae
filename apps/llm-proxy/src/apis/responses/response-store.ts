import { Redis } from 'ioredis';
import type { Json } from '../sse';

/** A response the proxy created, kept for `previous_response_id` and `GET /v1/responses/{id}`. */
export interface StoredResponse {
  /** The token name that created it: nobody else reads or continues it. */
  owner: string;
  response: Json;
  /** The conversation this response answered, as input items (its predecessors' included). */
  input: Json[];
}

/** Where responses are kept; every replica must see the same ones (Redis when the bus is Redis). */
export interface ResponseStore {
  get(id: string): Promise<StoredResponse | undefined>;
  put(id: string, value: StoredResponse): Promise<void>;
  /** True when it existed. */
  delete(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/** One process's store: entries expire after `ttlMs`; past `maxEntries` the oldest go first. */
export class MemoryResponseStore implements ResponseStore {
  private readonly entries = new Map<string, { value: StoredResponse; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(id: string): Promise<StoredResponse | undefined> {
    const entry = this.entries.get(id);
    if (entry && entry.expiresAt <= this.now()) this.entries.delete(id);
    return Promise.resolve(entry && entry.expiresAt > this.now() ? entry.value : undefined);
  }

  put(id: string, value: StoredResponse): Promise<void> {
    this.entries.delete(id);
    this.entries.set(id, { value, expiresAt: this.now() + this.ttlMs });
    // Map order is insertion order: the first keys are the oldest.
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(key);
    }
    return Promise.resolve();
  }

  delete(id: string): Promise<boolean> {
    return Promise.resolve(this.entries.delete(id));
  }

  close(): Promise<void> {
    this.entries.clear();
    return Promise.resolve();
  }
}

/**
 * Responses in Redis under `<prefix>llm:responses:<id>`, expiring after `ttlMs`. One
 * connection: a response written before the answer is sent is readable by the next
 * request on this replica (Redis runs one connection's commands in order).
 */
export class RedisResponseStore implements ResponseStore {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    this.redis = new Redis(url, { connectionName: 'patchbay-llm-responses', maxRetriesPerRequest: 2, connectTimeout: 5_000, disconnectTimeout: 200 });
    // Failures surface on the commands (the caller answers 503); no unhandled 'error' event.
    this.redis.on('error', () => undefined);
  }

  private key(id: string): string {
    return `${this.prefix}llm:responses:${id}`;
  }

  async get(id: string): Promise<StoredResponse | undefined> {
    const text = await this.redis.get(this.key(id));
    return text === null ? undefined : (JSON.parse(text) as StoredResponse);
  }

  async put(id: string, value: StoredResponse): Promise<void> {
    await this.redis.set(this.key(id), JSON.stringify(value), 'PX', this.ttlMs);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.redis.del(this.key(id))) > 0;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
