import { randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { createEnvelope, ErrorCode, EventType, PatchbayError } from '@patchbay/core';
import type { Envelope } from '@patchbay/core';
import { pingRedis, RedisBus } from '@patchbay/core/redis';
import type { RedisBusOptions } from '@patchbay/core/redis';

const REDIS_URL = process.env.PATCHBAY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Nothing listens on port 1: connections are refused at once. */
const UNREACHABLE_URL = 'redis://127.0.0.1:1';

const source = { service: 'redis-bus-test', instance: 'jest' };
const changed = (revision: number): Envelope =>
  createEnvelope(EventType.CONNECTOR_CHANGED, { configId: 'LLM', type: 'llm', revision, checksum: `sha256:${revision}` }, { source, revision });

/** Resolves with the next call's argument. */
function nextCall<T>(): { promise: Promise<T>; fn: (value: T) => void } {
  let fn: (value: T) => void = () => undefined;
  const promise = new Promise<T>((resolve) => {
    fn = resolve;
  });
  return { promise, fn };
}

describe('RedisBus (real Redis)', () => {
  let prefix: string;
  const buses: RedisBus[] = [];
  const admins: Redis[] = [];

  const bus = (options: Partial<RedisBusOptions> = {}): RedisBus => {
    const created = new RedisBus({ url: REDIS_URL, prefix, ...options });
    buses.push(created);
    return created;
  };
  const admin = (): Redis => {
    const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    admins.push(client);
    return client;
  };

  beforeEach(() => {
    prefix = `patchbay-test:${randomUUID()}:`;
  });

  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
    await Promise.all(admins.splice(0).map((a) => a.quit()));
  });

  it('keeps a subscription made after the socket connected but before ioredis checked it was ready', async () => {
    // A proxy that lets the bus connect but holds Redis's answers: ioredis's ready check
    // (INFO) stays pending while the subscribe below runs, as when a service subscribes
    // right after a long synchronous start-up.
    const redis = new URL(REDIS_URL);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const clients: Socket[] = [];
    let connections = 0;
    const proxy = createServer((client) => {
      connections++;
      const upstream = connect(Number(redis.port || 6379), redis.hostname);
      clients.push(client, upstream);
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk) => void released.then(() => client.write(chunk)));
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const address = proxy.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const errors: Error[] = [];
      const receiver = bus({ url: `redis://127.0.0.1:${port}`, onError: (error) => errors.push(error) });
      while (connections < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 20));
      const received = nextCall<Envelope>();
      const subscribed = receiver.subscribe('config', received.fn);
      await new Promise((resolve) => setTimeout(resolve, 20));
      release();
      await subscribed;
      const envelope = changed(8);
      await bus().publish('config', envelope);
      await expect(received.promise).resolves.toEqual(envelope);
      expect(errors.map((error) => error.message)).toEqual([]);
    } finally {
      for (const socket of clients) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('delivers a published envelope to a subscriber on another instance', async () => {
    const receiver = bus();
    const sender = bus();
    const received = nextCall<Envelope>();
    await receiver.subscribe('config', received.fn);

    const envelope = changed(7);
    await sender.publish('config', envelope);
    await expect(received.promise).resolves.toEqual(envelope);
    expect(receiver.connected).toBe(true);
  });

  it('uses the Redis channel <prefix>events:<channel> and plain JSON', async () => {
    const spy = admin();
    const raw = nextCall<[string, string]>();
    spy.on('message', (channel: string, message: string) => raw.fn([channel, message]));
    await spy.subscribe(`${prefix}events:state`);

    const envelope = changed(1);
    await bus().publish('state', envelope);
    const [channel, message] = await raw.promise;
    expect(channel).toBe(`${prefix}events:state`);
    expect(JSON.parse(message)).toEqual(envelope);
  });

  it('does not cross channels or prefixes', async () => {
    const receiver = bus();
    const handler = jest.fn();
    await receiver.subscribe('config', handler);
    const last = nextCall<Envelope>();
    await receiver.subscribe('state', last.fn);

    const otherPrefix = new RedisBus({ url: REDIS_URL, prefix: `${prefix}other:` });
    buses.push(otherPrefix);
    await otherPrefix.publish('config', changed(1));
    const sender = bus();
    await sender.publish('state', changed(2));
    await last.promise; // ordered after the others on the subscriber connection
    expect(handler).not.toHaveBeenCalled();
  });

  it('drops invalid messages, reports them, and keeps delivering', async () => {
    const onError = jest.fn();
    const receiver = bus({ onError });
    const received = jest.fn();
    const valid = nextCall<Envelope>();
    await receiver.subscribe('config', (envelope) => {
      received(envelope);
      valid.fn(envelope);
    });

    const raw = admin();
    const channel = `${prefix}events:config`;
    await raw.publish(channel, 'not json');
    await raw.publish(channel, JSON.stringify({ v: 2, type: 'x', id: '1', at: 'now', source, data: {} }));
    await raw.publish(channel, JSON.stringify({ ...changed(1), source: 'nobody' }));
    const envelope = changed(3);
    await raw.publish(channel, JSON.stringify(envelope));

    await expect(valid.promise).resolves.toEqual(envelope);
    expect(received).toHaveBeenCalledTimes(1);
    expect(onError).toHaveBeenCalledTimes(3);
    expect(onError.mock.calls.every(([error]) => error instanceof PatchbayError && error.code === ErrorCode.VALIDATION)).toBe(true);
  });

  it('reports handler errors without affecting other handlers', async () => {
    const reported = nextCall<Error>();
    const receiver = bus({ onError: reported.fn });
    await receiver.subscribe('config', async () => {
      throw new Error('handler bug');
    });
    const second = nextCall<Envelope>();
    await receiver.subscribe('config', second.fn);

    const envelope = changed(1);
    await bus().publish('config', envelope);
    await expect(second.promise).resolves.toEqual(envelope);
    await expect(reported.promise).resolves.toMatchObject({ message: 'handler bug' });
  });

  it('unsubscribe stops one handler, and the last one leaves the Redis channel', async () => {
    const receiver = bus();
    const sender = bus();
    const raw = admin();
    const channel = `${prefix}events:config`;
    const gone = jest.fn();
    const first = await receiver.subscribe('config', gone);
    const stays = nextCall<Envelope>();
    const second = await receiver.subscribe('config', stays.fn);

    await first.unsubscribe();
    await first.unsubscribe(); // idempotent
    await sender.publish('config', changed(1));
    await stays.promise;
    expect(gone).not.toHaveBeenCalled();

    expect(await raw.pubsub('NUMSUB', channel)).toEqual([channel, 1]);
    await second.unsubscribe();
    expect(await raw.pubsub('NUMSUB', channel)).toEqual([channel, 0]);
  });

  it('survives a killed subscriber connection: re-subscribes, tells listeners, and receives again', async () => {
    const connectionName = `bus-test-${randomUUID()}`;
    const receiver = bus({ connectionName });
    const sender = bus();
    const raw = admin();
    const messages: Envelope[] = [];
    let delivered = nextCall<Envelope>();
    await receiver.subscribe('config', (envelope) => {
      messages.push(envelope);
      delivered.fn(envelope);
    });
    const resubscribed = nextCall<void>();
    receiver.onResubscribed(() => resubscribed.fn());

    await sender.publish('config', changed(1));
    await delivered.promise;

    const clients = String(await raw.client('LIST')).split('\n');
    const line = clients.find((l) => l.includes(` name=${connectionName}:sub `));
    const id = /\bid=(\d+)\b/.exec(line ?? '')?.[1];
    if (id === undefined) throw new Error(`subscriber connection ${connectionName}:sub not in CLIENT LIST`);
    delivered = nextCall<Envelope>();
    expect(await raw.client('KILL', 'ID', id)).toBe(1);

    await resubscribed.promise;
    expect(receiver.connected).toBe(true);
    const after = changed(2);
    await sender.publish('config', after);
    await expect(delivered.promise).resolves.toEqual(after);
    expect(messages.map((m) => m.revision)).toEqual([1, 2]);
  });

  it('close is idempotent; afterwards publish and subscribe reject with UNAVAILABLE', async () => {
    const closing = bus();
    await closing.subscribe('config', () => undefined);
    await Promise.all([closing.close(), closing.close()]);
    await closing.close();
    expect(closing.connected).toBe(false);
    await expect(closing.publish('config', changed(1))).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    await expect(closing.subscribe('config', () => undefined)).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
  });

  it('a publish while Redis is unreachable rejects with UNAVAILABLE instead of hanging', async () => {
    const errors: Error[] = [];
    const offline = new RedisBus({ url: UNREACHABLE_URL, prefix, onError: (e) => errors.push(e), publishTimeoutMs: 5_000 });
    buses.push(offline);
    const started = Date.now();
    await expect(offline.publish('config', changed(1))).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(offline.connected).toBe(false);
    expect(errors.length).toBeGreaterThan(0); // connection errors are reported, not thrown
  });

  describe('pingRedis', () => {
    it('resolves with the round trip in ms', async () => {
      const ms = await pingRedis(REDIS_URL, 2_000);
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(2_000);
    });

    it('rejects with UNAVAILABLE when Redis is unreachable', async () => {
      await expect(pingRedis(UNREACHABLE_URL, 1_000)).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    });
  });
});
