import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Outbox } from './outbox';
import { Frame } from './protocol';

describe('Outbox', () => {
  let server: Server;
  let client: Socket;
  let peer: Socket;
  let received: Buffer[];

  beforeEach(async () => {
    received = [];
    server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address() as { port: number };
    const accepted = once(server, 'connection');
    client = connect(address.port, '127.0.0.1');
    [peer] = (await accepted) as [Socket];
    peer.on('data', (chunk: Buffer) => received.push(chunk));
  });

  afterEach(async () => {
    client.destroy();
    peer.destroy();
    server.close();
    await once(server, 'close');
  });

  async function receivedBytes(length: number): Promise<string> {
    while (Buffer.concat(received).length < length) await once(peer, 'data');
    return Buffer.concat(received).toString('latin1');
  }

  it('writes what it held in one write, in order, and writes through when not holding', async () => {
    const writes = jest.spyOn(client, 'write');
    const out = new Outbox(() => client);
    out.hold();
    out.write(Buffer.from('Bind'));
    out.write(Buffer.from('Execute'));
    out.write(Buffer.from('Sync'));
    expect(writes).not.toHaveBeenCalled();
    out.flush();
    expect(writes).toHaveBeenCalledTimes(1);
    out.write(Buffer.from('!'));
    expect(writes).toHaveBeenCalledTimes(2);
    expect(await receivedBytes(16)).toBe('BindExecuteSync!');
  });

  it('joins adjacent frames of one buffer into one view and leaves out the bytes between frames that are not adjacent', async () => {
    const chunk = Buffer.from('ABCDEFGH');
    const writes = jest.spyOn(client, 'write');
    const out = new Outbox(() => client);
    out.hold();
    out.writeFrame(new Frame(chunk, 0, 3));
    out.writeFrame(new Frame(chunk, 3, 5));
    out.writeFrame(new Frame(chunk, 6, 8));
    out.flush();
    const written = writes.mock.calls[0]?.[0] as Buffer;
    expect(written.toString('latin1')).toBe('ABCDEGH');
    expect(await receivedBytes(7)).toBe('ABCDEGH');
  });

  it('writes a buffer whose frames were all relayed as it is, without a view', () => {
    const chunk = Buffer.from('ABCDEFGH');
    const writes = jest.spyOn(client, 'write');
    const out = new Outbox(() => client);
    out.hold();
    out.writeFrame(new Frame(chunk, 0, 5));
    out.writeFrame(new Frame(chunk, 5, 8));
    out.flush();
    expect(writes.mock.calls[0]?.[0]).toBe(chunk);
  });

  it('drops what it held on discard', () => {
    const writes = jest.spyOn(client, 'write');
    const out = new Outbox(() => client);
    out.hold();
    out.write(Buffer.from('lost'));
    out.discard();
    out.flush();
    expect(writes).not.toHaveBeenCalled();
  });
});
