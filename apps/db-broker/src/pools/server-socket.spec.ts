import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { routeOf, serverSocket } from './server-socket';

describe('serverSocket', () => {
  let server: Server;
  let peer: Socket;
  let socket: Socket;

  beforeEach(async () => {
    server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    socket = serverSocket();
    socket.connect((server.address() as { port: number }).port, '127.0.0.1');
    [peer] = (await accepted) as [Socket];
  });

  afterEach(async () => {
    socket.destroy();
    peer.destroy();
    server.close();
    await once(server, 'close');
  });

  /** Sends `text` and resolves with the next chunk the socket reads through `read`. */
  async function send(text: string, read: () => Promise<Buffer>): Promise<Buffer> {
    const next = read();
    peer.write(text);
    return next;
  }

  function relayNext(kept: boolean): () => Promise<Buffer> {
    const route = routeOf(socket);
    if (!route) throw new Error('no route');
    return () =>
      new Promise((resolve) => {
        route.relay = (bytes, length) => {
          resolve(bytes.subarray(0, length));
          return kept;
        };
      });
  }

  it('gives pg its own copy of every chunk as `data` events', async () => {
    const read = (): Promise<Buffer> => once(socket, 'data').then(([chunk]) => chunk as Buffer);
    const first = await send('first', read);
    const second = await send('other', read);
    expect([first.toString(), second.toString()]).toEqual(['first', 'other']);
  });

  it('reads the next chunk into a new buffer when the relay kept the last one', async () => {
    const first = await send('kept', relayNext(true));
    const second = await send('over', relayNext(true));
    expect(first.toString()).toBe('kept');
    expect(second.toString()).toBe('over');
    expect(second.buffer).not.toBe(first.buffer);
  });

  it('reuses its buffer while the relay keeps nothing', async () => {
    const first = await send('used', relayNext(false));
    const firstBuffer = first.buffer;
    const second = await send('next', relayNext(false));
    expect(second.toString()).toBe('next');
    // The same memory: the first view now shows the second read's bytes.
    expect(second.buffer).toBe(firstBuffer);
    expect(first.toString()).toBe('next');
  });

  it('has a route only for the sockets it made', () => {
    expect(routeOf(peer)).toBeUndefined();
    expect(routeOf(socket)).toBeDefined();
  });
});
