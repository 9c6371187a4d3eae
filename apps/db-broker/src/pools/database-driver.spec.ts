import { createServer, type Server } from 'node:net';
import { ConnectionState, ErrorCode, type ResolvedConnector, type StateChange } from '@patchbay/core';
import { ManagedConnection } from '@patchbay/nest';
import { DEFAULT_SETTINGS } from '../config/broker-settings';
import { DatabaseDriver, type DatabaseConnection } from './database-driver';
import { withLease } from './leased';
import { poolSpecOf } from './pool-target';

/** A port that accepts TCP and closes at once: "the database hangs up". */
async function hangingUpServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a database connection (DatabaseDriver on the kit runtime) with an unreachable database', () => {
  let server: Server;
  let pool: DatabaseConnection;

  afterEach(async () => {
    await pool?.close('shutdown', 100);
    await new Promise((r) => server?.close(r));
  });

  it('goes connecting -> retrying, fails fast with Retry-After, keeps probing with backoff, and closes cleanly', async () => {
    const target = await hangingUpServer();
    server = target.server;
    const connector: ResolvedConnector = {
      configId: 'DOWN',
      type: 'database',
      revision: 3,
      checksum: 'x',
      mode: 'local',
      url: `postgres://127.0.0.1:${target.port}/db`,
      source: 'explicit',
      headers: {},
      options: { acquireTimeoutMs: 1000 },
      credentials: { username: 'u', password: 'pw' },
    };
    const states: StateChange[] = [];
    const reconnects: boolean[] = [];
    const driver = new DatabaseDriver(
      { ...DEFAULT_SETTINGS, reconnectMaxMs: 50, drainTimeoutMs: 100 },
      { openSessions: () => 0, acquired: () => undefined, idleError: () => undefined },
    );
    pool = new ManagedConnection({
      id: 'DOWN',
      configId: 'DOWN',
      revision: 3,
      spec: poolSpecOf(connector, DEFAULT_SETTINGS),
      driver,
      noun: 'database',
      observer: {
        state: (_c, change) => states.push(change),
        breaker: () => undefined,
        swapped: () => undefined,
        drained: () => undefined,
        reconnect: (_c, ok) => reconnects.push(ok),
      },
    });
    expect(pool.state).toBe(ConnectionState.DISCOVERED);
    pool.start();
    await until(() => pool.state === ConnectionState.RETRYING);
    expect(states.map((s) => `${s.from}->${s.to}`)).toEqual(['discovered->connecting', 'connecting->retrying']);

    // Fast: rejected at the gate, without trying for a connection.
    const work = jest.fn(async () => 1);
    await expect(withLease(pool, work, { timeoutCounts: true })).rejects.toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE, retryAfterSeconds: 1 });
    expect(work).not.toHaveBeenCalled();
    expect(pool.status()).toMatchObject({ pool: { total: 0, waiting: 0 } });
    await expect(pool.lease()).rejects.toMatchObject({ code: ErrorCode.UPSTREAM_UNAVAILABLE });

    await until(() => reconnects.length >= 3);
    expect(reconnects.every((ok) => !ok)).toBe(true);
    const status = pool.status();
    expect(status).toMatchObject({ configId: 'DOWN', state: 'retrying', revision: 3, target: `postgres://u@127.0.0.1:${target.port}/db` });
    expect(status.lastError?.message).toBeTruthy();
    expect(JSON.stringify(status)).not.toContain('pw');
    // Failed reconnect attempts leave no pool behind.
    await until(() => driver.figuresByConnector().size <= 1);

    await pool.close('removed', 100);
    expect(pool.state).toBe(ConnectionState.CLOSED);
    const attempts = reconnects.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(reconnects.length).toBe(attempts);
    expect(driver.figuresByConnector().size).toBe(0);
    await expect(withLease(pool, async () => 1, { timeoutCounts: true })).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
  });
});
