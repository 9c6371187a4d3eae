import { EventEmitter } from 'node:events';
import type { ConnectionLease } from '@patchbay/nest';
import type { PoolClient } from 'pg';
import type { Lease, PoolGeneration } from '../pools/pool-generation';
import { ServerLink } from './server-link';

/** The socket pg would have created: records writes, has pg's parser as its one `data` listener. */
class FakeSocket extends EventEmitter {
  readonly written: Buffer[] = [];
  destroyed = false;
  write(bytes: Buffer): boolean {
    this.written.push(Buffer.from(bytes));
    return true;
  }
  isPaused(): boolean {
    return false;
  }
}

function pooledConnection(): { client: PoolClient; socket: FakeSocket; pgParser: Buffer[] } {
  const socket = new FakeSocket();
  const pgParser: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => pgParser.push(chunk));
  const client = { connection: { stream: socket }, processID: 7, secretKey: 8 } as unknown as PoolClient;
  return { client, socket, pgParser };
}

function leaseOf(client: PoolClient): { handle: ConnectionLease<PoolGeneration>; lease: Lease } {
  return {
    handle: { handle: {} as PoolGeneration, release: jest.fn() },
    lease: { client, release: jest.fn() },
  };
}

describe('ServerLink', () => {
  it('is one object per pooled connection, and a lease carries nothing over to the next', () => {
    const { client, socket, pgParser } = pooledConnection();
    const first = leaseOf(client);
    const link = ServerLink.lend(first.handle, first.lease);
    const relayed: Buffer[] = [];
    const lost = jest.fn();
    link.attach({
      fromServer: (_link, chunk) => {
        relayed.push(chunk);
        return false;
      },
      serverLost: lost,
    });
    link.dirty = true;
    // Half a message from the server, and a held write.
    link.reader.push(Buffer.from([0x5a, 0, 0, 0]));
    link.hold();
    link.write(Buffer.from('Q'));
    socket.emit('data', Buffer.from('x'));
    expect(relayed).toHaveLength(1);
    link.release();
    expect(first.lease.release).toHaveBeenCalledTimes(1);
    expect(first.handle.release).toHaveBeenCalledTimes(1);
    // Held bytes went out before the connection went back.
    expect(Buffer.concat(socket.written).toString()).toBe('Q');

    const second = leaseOf(client);
    const again = ServerLink.lend(second.handle, second.lease);
    expect(again).toBe(link);
    expect(again.dirty).toBe(false);
    expect(again.reader.buffered).toBe(0);
    // Between leases pg's parser reads the socket; the old relay and close callback are gone.
    socket.emit('data', Buffer.from('y'));
    socket.emit('close');
    expect(pgParser.map(String)).toEqual(['y']);
    expect(relayed).toHaveLength(1);
    expect(lost).not.toHaveBeenCalled();
    // Not holding: a write leaves at once.
    again.write(Buffer.from('S'));
    expect(socket.written.map(String)).toEqual(['Q', 'S']);
    expect(again.backendKey).toEqual({ pid: 7, secret: 8 });
    again.release();
    again.release();
    expect(second.lease.release).toHaveBeenCalledTimes(1);
    expect(first.lease.release).toHaveBeenCalledTimes(1);
  });

  it('keeps prepared statements across leases and forgets them when the connection is destroyed', () => {
    const { client, socket } = pooledConnection();
    const first = leaseOf(client);
    const link = ServerLink.lend(first.handle, first.lease);
    link.add('pb_a');
    link.add('pb_b');
    link.release();
    const second = leaseOf(client);
    ServerLink.lend(second.handle, second.lease);
    expect(link.touch('pb_b')).toBe(true);
    expect(link.touch('pb_a')).toBe(true);
    link.hold();
    link.write(Buffer.from('P'));
    link.release(new Error('server connection closed'));
    // Destroyed: nothing held is written, nothing prepared is assumed on a replacement.
    expect(socket.written).toHaveLength(0);
    expect(second.lease.release).toHaveBeenCalledWith(expect.any(Error));
    expect(link.touch('pb_a')).toBe(false);
  });

  it('answers touch from the Map, also for the statement touched last once it is dropped', () => {
    const { client } = pooledConnection();
    const { handle, lease } = leaseOf(client);
    const link = ServerLink.lend(handle, lease);
    link.add('pb_a');
    expect(link.touch('pb_a')).toBe(true);
    // A Parse the server refused takes the statement out again.
    link.prepared.delete('pb_a');
    expect(link.touch('pb_a')).toBe(false);
    link.release();
  });

  it('closes the least recently used statement past the limit', () => {
    const { client } = pooledConnection();
    const { handle, lease } = leaseOf(client);
    const link = ServerLink.lend(handle, lease);
    for (let i = 0; i < 200; i++) expect(link.add(`pb_${i}`)).toBeUndefined();
    expect(link.touch('pb_0')).toBe(true);
    expect(link.add('pb_200')).toBe('pb_1');
    link.release();
  });
});
