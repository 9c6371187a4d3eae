// The wire front's floor: a bare Node TCP relay, one Postgres connection per client, bytes
// copied both ways with nothing read or decided (no login, no pooling, no statements).
// It reads as the broker does (`onread` into a reused buffer) and writes with
// socket.write, so its distance to PgBouncer is what any Node relay pays on this machine.
import { createServer, connect, type OnReadOpts, type Socket } from 'node:net';

const READ_BYTES = 64 * 1024;

/** Reads into one buffer, reused while every write of it completed at once. */
function relayTo(target: () => Socket): OnReadOpts {
  let buffer = Buffer.allocUnsafe(READ_BYTES);
  let kept = false;
  return {
    buffer: () => {
      if (kept) buffer = Buffer.allocUnsafe(READ_BYTES);
      kept = false;
      return buffer;
    },
    callback: (length, bytes) => {
      const socket = target();
      socket.write((bytes as Buffer).subarray(0, length));
      kept = socket.writableLength > 0;
      return true;
    },
  };
}

const [host, port] = [process.env.PG_HOST ?? '127.0.0.1', Number(process.env.PG_PORT ?? 5432)];
const server = createServer({ pauseOnConnect: true, noDelay: true }, (accepted) => {
  let client: Socket = accepted;
  const upstream = connect({ host, port, noDelay: true, onread: relayTo(() => client) });
  // The accepted socket has no `onread`: its handle moves into one that has (as the broker does).
  const handle = (accepted as unknown as { _handle: unknown })._handle;
  (accepted as unknown as { _handle: unknown })._handle = null;
  client = new (accepted.constructor as typeof Socket)({ handle, readable: true, writable: true, onread: relayTo(() => upstream) } as never);
  accepted.destroy();
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
