import { BreakerState, ConnectionState, ErrorCode, type BreakerStateChange, type StateChange } from '@patchbay/core';
import { FAST_SETTINGS, FakeDriver, FakeError, until, type FakeHandle, type FakeSpec } from '../../test/support/fake-driver';
import type { ConnectionSettings } from './driver';
import { ManagedConnection, type ConnectionObserver } from './managed-connection';

interface Recorded {
  states: string[];
  breakers: BreakerStateChange[];
  swaps: string[];
  drained: { target: string; timedOut: boolean }[];
  reconnects: boolean[];
}

function recorder(): { observer: ConnectionObserver<FakeSpec, FakeHandle>; seen: Recorded } {
  const seen: Recorded = { states: [], breakers: [], swaps: [], drained: [], reconnects: [] };
  return {
    seen,
    observer: {
      state: (_c, change: StateChange) => seen.states.push(`${change.from}->${change.to}`),
      breaker: (_c, change) => seen.breakers.push(change),
      swapped: (_c, reason) => seen.swaps.push(reason),
      drained: (_c, target, timedOut) => seen.drained.push({ target, timedOut }),
      reconnect: (_c, ok) => seen.reconnects.push(ok),
    },
  };
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('ManagedConnection', () => {
  let driver: FakeDriver;
  let connection: ManagedConnection<FakeSpec, FakeHandle>;
  let seen: Recorded;

  const spec = (url: string, settings: Partial<ConnectionSettings> = {}): FakeSpec => ({ url, settings: { ...FAST_SETTINGS, ...settings } });

  const create = (first: FakeSpec = spec('http://a.test')): ManagedConnection<FakeSpec, FakeHandle> => {
    const recorded = recorder();
    seen = recorded.seen;
    connection = new ManagedConnection({ id: 'UP', configId: 'UP', revision: 1, spec: first, driver, observer: recorded.observer, noun: 'upstream' });
    return connection;
  };

  const active = async (): Promise<void> => until(() => connection.state === ConnectionState.ACTIVE, 'active');

  beforeEach(() => {
    driver = new FakeDriver();
  });

  afterEach(async () => {
    await connection?.close('shutdown', 50);
  });

  it('opens, probes and goes discovered -> connecting -> active; work runs on the handle', async () => {
    create().start();
    await active();
    expect(seen.states).toEqual(['discovered->connecting', 'connecting->active']);
    expect(driver.probes).toBe(1);
    expect(driver.contexts[0]?.id).toBe('UP');
    await expect(connection.use(async (handle) => handle.serial)).resolves.toBe(1);
    expect(connection.status()).toMatchObject({
      id: 'UP',
      configId: 'UP',
      kind: 'fake-upstream',
      state: 'active',
      breaker: 'closed',
      revision: 1,
      target: 'http://a.test',
      lastError: null,
      retryAt: null,
      serial: 1,
    });
  });

  it('lets work that arrives while the handle opens wait for it', async () => {
    const gate = deferred<void>();
    driver.openGate = gate.promise;
    create().start();
    const work = connection.use(async (handle) => handle.url);
    expect(connection.state).toBe(ConnectionState.CONNECTING);
    gate.resolve();
    await expect(work).resolves.toBe('http://a.test');
  });

  it('fails fast with 503 and Retry-After while retrying, reconnects with backoff, then serves with the error as history', async () => {
    driver.failOpens = 3;
    create().start();
    await until(() => connection.state === ConnectionState.RETRYING, 'retrying');
    const work = jest.fn(async () => 1);
    await expect(connection.use(work)).rejects.toMatchObject({
      code: ErrorCode.UPSTREAM_UNAVAILABLE,
      retryAfterSeconds: 1,
      message: expect.stringContaining("upstream 'UP' is unreachable"),
    });
    await expect(connection.lease()).rejects.toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE });
    expect(work).not.toHaveBeenCalled();
    expect(connection.status().lastError?.message).toBe('fake connection error');
    await active();
    expect(seen.reconnects).toEqual([false, false, true]);
    expect(seen.states).toEqual(['discovered->connecting', 'connecting->retrying', 'retrying->active']);
    const status = connection.status();
    expect(status.lastError).toBeNull();
    expect(status.previousError).toMatchObject({ message: 'fake connection error', clearedAt: expect.any(String) });
    await expect(connection.use(async (handle) => handle.serial)).resolves.toBe(1);
  });

  it('goes dead after maxRetries failed opens, stops trying, and comes back on restart', async () => {
    driver.failOpens = 100;
    create(spec('http://a.test', { maxRetries: 2 })).start();
    await until(() => connection.state === ConnectionState.DEAD, 'dead');
    expect(driver.contexts).toHaveLength(3);
    await expect(connection.use(async () => 1)).rejects.toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE, retryAfterSeconds: 30 });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(driver.contexts).toHaveLength(3);
    driver.failOpens = 0;
    connection.restart('operator');
    await active();
    expect(seen.states.slice(-3)).toEqual(['retrying->dead', 'dead->connecting', 'connecting->active']);
  });

  it('swaps on a changed spec: new work goes to the new handle, the old one closes only after its work finished', async () => {
    create().start();
    await active();
    const slow = deferred<string>();
    const onOld = connection.use(async (handle) => `${handle.url}:${await slow.promise}`);
    connection.update(2, spec('http://b.test'));
    await active();
    await expect(connection.use(async (handle) => handle.url)).resolves.toBe('http://b.test');
    const old = driver.opened[0]!;
    expect(old.closed).toBeUndefined();
    expect(connection.status()).toMatchObject({ revision: 2, target: 'http://b.test', drainingHandles: 1, drainingSerials: [1] });
    slow.resolve('done');
    await expect(onOld).resolves.toBe('http://a.test:done');
    await until(() => old.closed !== undefined, 'old handle closed');
    expect(old.closed).toBe('swapped');
    expect(seen.swaps).toEqual(['changed']);
    expect(seen.drained).toEqual([{ target: 'http://a.test', timedOut: false }]);
    expect(connection.status().drainingHandles).toBeUndefined();
  });

  it('closes a draining handle after drainTimeoutMs even when its work never ends', async () => {
    create(spec('http://a.test', { drainTimeoutMs: 30 })).start();
    await active();
    void connection.use(() => new Promise(() => undefined));
    connection.update(2, spec('http://b.test', { drainTimeoutMs: 30 }));
    await until(() => seen.drained.length === 1, 'drained');
    expect(seen.drained[0]).toEqual({ target: 'http://a.test', timedOut: true });
    expect(driver.opened[0]?.closed).toBe('swapped');
  });

  it('follows a change that arrives while a reconnect probes the old target', async () => {
    create().start();
    await active();
    const gate = deferred<void>();
    driver.openGate = gate.promise;
    await expect(connection.use(async () => Promise.reject(new FakeError('connection')))).rejects.toBeInstanceOf(FakeError);
    await until(() => driver.contexts.length === 2, 'reconnect attempt started');
    connection.update(2, spec('http://b.test'));
    driver.openGate = undefined;
    gate.resolve();
    await until(
      () => connection.state === ConnectionState.ACTIVE && connection.status().target === 'http://b.test' && connection.status()['serial'] !== null,
      'active on b',
    );
    await expect(connection.use(async (handle) => handle.url)).resolves.toBe('http://b.test');
    // The handle opened for the old target while it changed is closed, never served.
    await until(() => driver.opened.filter((h) => h.url === 'http://a.test').every((h) => h.closed !== undefined), 'old handles closed');
    expect(driver.opened.filter((h) => h.url === 'http://a.test' && h.serial > 1).map((h) => h.closed)).toEqual(['failed']);
  });

  it('does not swap when only the revision moved', async () => {
    create().start();
    await active();
    connection.update(7, spec('http://a.test'));
    expect(connection.revision).toBe(7);
    expect(driver.opened).toHaveLength(1);
    expect(seen.swaps).toEqual([]);
  });

  it('opens the breaker after counted failures (not caller errors) and rejects with CIRCUIT_OPEN without running the work', async () => {
    create().start();
    await active();
    for (let i = 0; i < 5; i++) await expect(connection.use(async () => Promise.reject(new FakeError('caller')))).rejects.toBeInstanceOf(FakeError);
    expect(connection.breaker.state).toBe(BreakerState.CLOSED);
    for (let i = 0; i < 3; i++) await expect(connection.use(async () => Promise.reject(new FakeError('failure')))).rejects.toBeInstanceOf(FakeError);
    expect(connection.breaker.state).toBe(BreakerState.OPEN);
    expect(connection.state).toBe(ConnectionState.ACTIVE);
    const work = jest.fn(async () => 1);
    await expect(connection.use(work)).rejects.toMatchObject({ code: ErrorCode.CIRCUIT_OPEN, retryAfterSeconds: 60 });
    expect(work).not.toHaveBeenCalled();
    expect(seen.breakers.map((c) => c.to)).toEqual(['open']);
    expect(connection.status().retryAt).not.toBeNull();
  });

  it('operates the breaker: forced open, disabled, reset', async () => {
    create().start();
    await active();
    connection.controlBreaker('open');
    await expect(connection.use(async () => 1)).rejects.toMatchObject({ code: ErrorCode.CIRCUIT_OPEN });
    connection.controlBreaker('disable');
    for (let i = 0; i < 5; i++) await expect(connection.use(async () => Promise.reject(new FakeError('failure')))).rejects.toBeInstanceOf(FakeError);
    expect(connection.breaker.state).toBe(BreakerState.DISABLED);
    connection.controlBreaker('reset');
    expect(connection.breaker.state).toBe(BreakerState.CLOSED);
    expect(seen.breakers.map((c) => c.to)).toEqual(['forced_open', 'disabled', 'closed']);
  });

  it('replaces an open breaker with a closed one when its settings change', async () => {
    create().start();
    await active();
    for (let i = 0; i < 3; i++) await connection.use(async () => Promise.reject(new FakeError('failure'))).catch(() => undefined);
    expect(connection.breaker.state).toBe(BreakerState.OPEN);
    connection.update(2, spec('http://a.test', { breakerFailures: 10 }));
    expect(connection.breaker.state).toBe(BreakerState.CLOSED);
    expect(seen.breakers.map((c) => `${c.from}->${c.to}`)).toEqual(['closed->open', 'open->closed']);
    await active();
    for (let i = 0; i < 5; i++) await connection.use(async () => Promise.reject(new FakeError('failure'))).catch(() => undefined);
    expect(connection.breaker.state).toBe(BreakerState.CLOSED);
  });

  it('on a connection error goes retrying, then swaps to a fresh handle and resets an open breaker', async () => {
    create(spec('http://a.test', { breakerFailures: 1 })).start();
    await active();
    await expect(connection.use(async () => Promise.reject(new FakeError('connection')))).rejects.toBeInstanceOf(FakeError);
    expect(connection.state).toBe(ConnectionState.RETRYING);
    expect(connection.breaker.state).toBe(BreakerState.OPEN);
    await active();
    expect(connection.breaker.state).toBe(BreakerState.CLOSED);
    expect(seen.swaps).toEqual(['reconnected']);
    await until(() => driver.opened[0]?.closed !== undefined, 'old handle closed');
    expect(driver.opened[0]?.closed).toBe('reconnected');
    await expect(connection.use(async (handle) => handle.serial)).resolves.toBe(2);
  });

  it('keeps a leased handle open across a swap until the lease is released; a released connection error reconnects', async () => {
    create().start();
    await active();
    const lease = await connection.lease();
    connection.update(2, spec('http://b.test'));
    await active();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(lease.handle.closed).toBeUndefined();
    lease.release();
    await until(() => lease.handle.closed === 'swapped', 'leased handle closed');
    const second = await connection.lease();
    expect(second.handle.url).toBe('http://b.test');
    second.release(new FakeError('connection'));
    second.release(new FakeError('connection'));
    expect(connection.state).toBe(ConnectionState.RETRYING);
  });

  it('leases synchronously with leaseNow only while the handle is open and the breaker lets work through', async () => {
    create().start();
    expect(connection.leaseNow()).toBeUndefined();
    await active();
    const lease = connection.leaseNow();
    expect(lease?.handle.url).toBe('http://a.test');
    connection.update(2, spec('http://b.test'));
    await active();
    expect(lease?.handle.closed).toBeUndefined();
    lease?.release();
    await until(() => lease?.handle.closed === 'swapped', 'leased handle closed');
    connection.controlBreaker('open');
    expect(connection.leaseNow()).toBeUndefined();
    connection.controlBreaker('reset');
    const second = connection.leaseNow();
    expect(second?.handle.url).toBe('http://b.test');
    second?.release();
  });

  it('marks the connection down when a periodic probe fails', async () => {
    create(spec('http://a.test', { healthIntervalMs: 5 })).start();
    await active();
    await until(() => driver.probes >= 3, 'periodic probes');
    driver.probeError = new FakeError('failure');
    await until(() => connection.state === ConnectionState.RETRYING, 'retrying after a failed probe');
    expect(connection.status().lastError?.message).toBe('fake failure error');
    driver.probeError = undefined;
    await active();
  });

  it('records an incident as history while active, as the current error otherwise', async () => {
    create().start();
    await active();
    driver.contexts[0]?.incident(new Error('idle connection dropped'));
    expect(connection.status()).toMatchObject({ state: 'active', lastError: null, previousError: { message: 'idle connection dropped' } });
  });

  it('closes: 404 afterwards, every handle closed, no reconnect any more', async () => {
    driver.failOpens = 1_000;
    create().start();
    await until(() => connection.state === ConnectionState.RETRYING, 'retrying');
    await connection.close('removed', 50);
    expect(connection.state).toBe(ConnectionState.CLOSED);
    const opens = driver.contexts.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(driver.contexts.length).toBe(opens);
    await expect(connection.use(async () => 1)).rejects.toMatchObject({
      code: ErrorCode.NOT_FOUND,
      message: expect.stringContaining("upstream connector 'UP'"),
    });

    driver.failOpens = 0;
    create().start();
    await active();
    await connection.close('shutdown', 50);
    expect(driver.opened.at(-1)?.closed).toBe('shutdown');
  });
});
