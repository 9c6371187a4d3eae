import type { Logger } from 'pino';
import Redis from 'ioredis';

/** What the registry knows of one broker instance. */
export interface FleetInstance {
  service: string;
  instance: string;
  revision: number;
  startedAt: string;
  /** When its last message arrived (epoch ms). */
  seenAt: number;
  intervalMs: number;
  connections: Array<{ id: string; configId: string; kind: string; state: string; breaker: string; revision: number; retryAt?: string }>;
}

/** Where the live picture is kept: one process's memory, or Redis for every replica. */
export interface FleetStore {
  put(instance: FleetInstance): Promise<void>;
  get(key: string): Promise<FleetInstance | undefined>;
  remove(key: string): Promise<void>;
  all(): Promise<FleetInstance[]>;
  close(): Promise<void>;
}

export function instanceKey(service: string, instance: string): string {
  return `${service}/${instance}`;
}

export class MemoryFleetStore implements FleetStore {
  private readonly instances = new Map<string, FleetInstance>();
  put(instance: FleetInstance): Promise<void> {
    this.instances.set(instanceKey(instance.service, instance.instance), instance);
    return Promise.resolve();
  }
  get(key: string): Promise<FleetInstance | undefined> {
    return Promise.resolve(this.instances.get(key));
  }
  remove(key: string): Promise<void> {
    this.instances.delete(key);
    return Promise.resolve();
  }
  all(): Promise<FleetInstance[]> {
    return Promise.resolve([...this.instances.values()]);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * One Redis hash (`<prefix>fleet`, field = service/instance) shared by every registry
 * replica, so each answers `/v1/fleet` with the same picture whichever heard the report.
 */
export class RedisFleetStore implements FleetStore {
  private readonly redis: Redis;
  private readonly key: string;

  constructor(url: string, prefix: string, logger: Logger) {
    this.key = `${prefix}fleet`;
    this.redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    this.redis.on('error', (error: Error) => logger.debug({ err: error }, 'fleet store: redis error'));
  }

  async put(instance: FleetInstance): Promise<void> {
    await this.redis.hset(this.key, instanceKey(instance.service, instance.instance), JSON.stringify(instance));
  }

  async get(key: string): Promise<FleetInstance | undefined> {
    const raw = await this.redis.hget(this.key, key);
    return raw ? (JSON.parse(raw) as FleetInstance) : undefined;
  }

  async remove(key: string): Promise<void> {
    await this.redis.hdel(this.key, key);
  }

  async all(): Promise<FleetInstance[]> {
    const raw = await this.redis.hgetall(this.key);
    return Object.values(raw).map((value) => JSON.parse(value) as FleetInstance);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
    return Promise.resolve();
  }
}
