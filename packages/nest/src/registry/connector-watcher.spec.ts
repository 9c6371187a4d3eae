import {
  Channel,
  ErrorCode,
  EventType,
  PatchbayError,
  InMemoryBus,
  createEnvelope,
  type ChangesPage,
  type Connector,
  type ConnectorChange,
  type ConnectorType,
  type ResolvedConnector,
} from '@patchbay/core';
import { ConnectorWatcher } from './connector-watcher';
import type { ConnectorList, RegistryReader } from '@patchbay/client';

/** An in-memory registry with the same revision semantics as the real one. */
class FakeRegistry implements RegistryReader {
  head = 0;
  readonly current = new Map<string, { type: ConnectorType; revision: number; url: string }>();
  log: ConnectorChange[] = [];
  resolveCalls = 0;
  down = false;

  put(configId: string, url: string, type: ConnectorType = 'database'): number {
    this.head++;
    this.current.set(configId, { type, revision: this.head, url });
    this.log.push({ revision: this.head, configId, type, action: 'upsert', checksum: 'c', at: new Date().toISOString() });
    return this.head;
  }

  remove(configId: string): number {
    const entry = this.current.get(configId);
    this.head++;
    this.current.delete(configId);
    this.log.push({ revision: this.head, configId, type: entry?.type ?? 'database', action: 'delete', checksum: null, at: new Date().toISOString() });
    return this.head;
  }

  /** The store was rebuilt from scratch (e.g. PGlite data dir wiped). */
  reset(): void {
    this.head = 0;
    this.current.clear();
    this.log = [];
  }

  private check(): void {
    if (this.down) throw new Error('registry unreachable');
  }

  async list(type?: ConnectorType): Promise<ConnectorList> {
    this.check();
    const items = [...this.current.entries()]
      .filter(([, c]) => !type || c.type === type)
      .map(([configId, c]) => ({ configId, type: c.type, revision: c.revision }) as Connector);
    return { items, head: this.head };
  }

  async resolve(configId: string): Promise<ResolvedConnector | undefined> {
    this.check();
    this.resolveCalls++;
    const c = this.current.get(configId);
    if (!c) return undefined;
    return { configId, type: c.type, revision: c.revision, checksum: 'c', mode: 'local', url: c.url, source: 'explicit', headers: {}, options: {} };
  }

  async changes(since: number, limit = 500): Promise<ChangesPage> {
    this.check();
    const after = this.log.filter((c) => c.revision > since);
    return { head: this.head, changes: after.slice(0, limit), more: after.length > limit };
  }
}

const source = { service: 'test', instance: 't1' };

function notify(bus: InMemoryBus, configId: string, revision: number, deleted = false): Promise<void> {
  const type = deleted ? EventType.CONNECTOR_DELETED : EventType.CONNECTOR_CHANGED;
  return bus.publish(Channel.CONFIG, createEnvelope(type, { configId, type: 'database', revision, checksum: 'c' }, { source }));
}

function nextUpsert(watcher: ConnectorWatcher): Promise<ResolvedConnector> {
  return new Promise((resolve) => watcher.once('upsert', resolve));
}

function nextDelete(watcher: ConnectorWatcher): Promise<string> {
  return new Promise((resolve) => watcher.once('delete', resolve));
}

describe('ConnectorWatcher', () => {
  let registry: FakeRegistry;
  let bus: InMemoryBus;
  let watcher: ConnectorWatcher;

  beforeEach(() => {
    registry = new FakeRegistry();
    bus = new InMemoryBus();
  });

  afterEach(async () => {
    await watcher.stop();
    await bus.close();
  });

  function start(options: Partial<ConstructorParameters<typeof ConnectorWatcher>[0]> = {}): ConnectorWatcher {
    watcher = new ConnectorWatcher({ client: registry, bus, types: ['database'], polling: false, resyncIntervalMs: 60_000, ...options });
    void watcher.start();
    return watcher;
  }

  it('loads the connectors of its types at start', async () => {
    registry.put('DB', 'postgres://a/db');
    registry.put('LLM', 'http://llm/v1', 'llm');
    start();
    await watcher.waitUntilSynced();
    expect(watcher.all().map((c) => c.configId)).toEqual(['DB']);
    expect(watcher.revision).toBe(2);
  });

  it('applies a newer revision from the bus and ignores older or equal ones', async () => {
    registry.put('DB', 'postgres://a/db');
    start();
    await watcher.waitUntilSynced();
    const revision = registry.put('DB', 'postgres://b/db');
    const upsert = nextUpsert(watcher);
    await notify(bus, 'DB', revision);
    expect(await upsert).toMatchObject({ configId: 'DB', url: 'postgres://b/db', revision });
    const calls = registry.resolveCalls;
    await notify(bus, 'DB', revision);
    await notify(bus, 'DB', revision - 1);
    await watcher.resyncNow();
    expect(registry.resolveCalls).toBe(calls);
  });

  it('emits delete for a deleted connector', async () => {
    registry.put('DB', 'postgres://a/db');
    start();
    await watcher.waitUntilSynced();
    const removed = nextDelete(watcher);
    await notify(bus, 'DB', registry.remove('DB'), true);
    expect(await removed).toBe('DB');
    expect(watcher.get('DB')).toBeUndefined();
  });

  it('catches up through /v1/changes when notifications were missed', async () => {
    start();
    await watcher.waitUntilSynced();
    registry.put('DB', 'postgres://missed/db');
    registry.put('DB2', 'postgres://missed/db2');
    await watcher.resyncNow();
    expect(
      watcher
        .all()
        .map((c) => c.url)
        .sort(),
    ).toEqual(['postgres://missed/db', 'postgres://missed/db2']);
    expect(watcher.revision).toBe(2);
  });

  it('reloads everything when the registry revision went backwards', async () => {
    registry.put('OLD', 'postgres://old/db');
    registry.put('OLD2', 'postgres://old/db2');
    start();
    await watcher.waitUntilSynced();
    registry.reset();
    registry.put('NEW', 'postgres://new/db');
    const deleted: string[] = [];
    watcher.on('delete', (id) => deleted.push(id));
    await watcher.resyncNow();
    expect(watcher.all().map((c) => c.configId)).toEqual(['NEW']);
    expect(deleted.sort()).toEqual(['OLD', 'OLD2']);
    expect(watcher.revision).toBe(1);
  });

  it('keeps retrying when the registry is unreachable at start', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
    try {
      registry.down = true;
      registry.put('DB', 'postgres://a/db');
      start({ polling: true, pollIntervalMs: 1000 });
      await jest.advanceTimersByTimeAsync(2000);
      expect(watcher.synced).toBe(false);
      registry.down = false;
      await jest.advanceTimersByTimeAsync(2000);
      expect(watcher.synced).toBe(true);
      expect(watcher.get('DB')?.url).toBe('postgres://a/db');
    } finally {
      jest.useRealTimers();
    }
  });

  it('says "not synced yet" (503 with Retry-After) until the first load succeeds', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
    try {
      registry.down = true;
      start({ polling: true, pollIntervalMs: 1000 });
      await jest.advanceTimersByTimeAsync(10);
      let refused: unknown;
      try {
        watcher.assertSynced("database connector 'DB'");
      } catch (error) {
        refused = error;
      }
      expect(refused).toBeInstanceOf(PatchbayError);
      const error = refused as PatchbayError;
      expect(error.code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
      expect(error.status).toBe(503);
      expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(error.message).toContain("database connector 'DB'");
      expect(error.message).toContain('registry is unreachable');
      registry.down = false;
      await jest.advanceTimersByTimeAsync(2000);
      expect(() => watcher.assertSynced("database connector 'DB'")).not.toThrow();
    } finally {
      jest.useRealTimers();
    }
  });

  it('polls for changes when there is no shared bus', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
    try {
      start({ polling: true, pollIntervalMs: 500 });
      await jest.advanceTimersByTimeAsync(10);
      expect(watcher.synced).toBe(true);
      registry.put('DB', 'postgres://polled/db');
      await jest.advanceTimersByTimeAsync(600);
      expect(watcher.get('DB')?.url).toBe('postgres://polled/db');
    } finally {
      jest.useRealTimers();
    }
  });
});
