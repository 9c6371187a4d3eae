import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { readThroughBuffer } from './client-socket';

describe('readThroughBuffer', () => {
  let server: Server;
  let peer: Socket;
  let socket: Socket;
  let accepted: Socket;
  let reads: Buffer[];
  let keep: boolean;

  beforeEach(async () => {
    server = createServer({ pauseOnConnect: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const connection = once(server, 'connection');
    peer = connect((server.address() as { port: number }).port, '127.0.0.1');
    [accepted] = (await connection) as [Socket];
    reads = [];
    keep = false;
    socket = readThroughBuffer(accepted, (bytes, length) => {
      reads.push(bytes.subarray(0, length));
      return keep;
    });
  });

  afterEach(async () => {
    socket.destroy();
    peer.destroy();
    server.close();
    await once(server, 'close');
  });

  async function send(text: string): Promise<Buffer> {
    const count = reads.length;
    peer.write(text);
    while (reads.length === count) await new Promise((resolve) => setImmediate(resolve));
    return reads[reads.length - 1] as Buffer;
  }

  it('moves the connection to a socket that reads into one reused buffer; the accepted one closes without it', async () => {
    expect(socket).not.toBe(accepted);
    await once(accepted, 'close');
    const first = await send('hello');
    expect(first.toString()).toBe('hello');
    const second = await send('world');
    expect(second.toString()).toBe('world');
    // Nothing kept: the same buffer again, so the first view now shows the second read.
    expect(second.buffer).toBe(first.buffer);
    // Both ways still work on the moved connection.
    const echoed = once(peer, 'data');
    socket.write('back');
    expect(String((await echoed)[0])).toBe('back');
  });

  it('reads into a new buffer after a read whose bytes were kept', async () => {
    keep = true;
    const first = await send('kept');
    keep = false;
    const second = await send('next');
    expect(second.buffer).not.toBe(first.buffer);
    expect(first.toString()).toBe('kept');
  });

  it('ends the moved socket when the peer closes', async () => {
    const closed = once(socket, 'close');
    peer.end();
    await closed;
  });
});
