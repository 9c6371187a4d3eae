import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import { reusedReadBuffer } from './read-buffer';

/** The part of net.Socket this module moves: its libuv TCP handle. */
interface SocketInternals {
  _handle?: { readStart?: unknown } | null;
}

/**
 * A client connection the wire front accepted, read through Node's `onread` into one
 * reused buffer instead of the Readable stream: per read the stream allocated a 64 KiB
 * buffer, pushed it through its state and emitted it, which cost the relay more than its
 * own work on the message (the server sockets read the same way, see serverSocket).
 * net.Server takes no `onread` for the sockets it accepts, so the accepted TCP handle
 * moves into a Socket made with one (the `handle` option is how Node's own server makes
 * the sockets it accepts); the accepted Socket gives it up and closes without touching the
 * connection. The server must pause on connect, so that no byte was read before.
 *
 * `read` is as for {@link reusedReadBuffer}. A socket without a TCP handle is returned as
 * it is, its chunks (each its own) given to `read`.
 */
export function readThroughBuffer(accepted: Socket, read: (bytes: Buffer, length: number) => boolean): Socket {
  const internals = accepted as unknown as SocketInternals;
  const handle = internals._handle;
  if (!handle || typeof handle.readStart !== 'function') {
    accepted.on('data', (chunk: Buffer) => read(chunk, chunk.length));
    accepted.resume();
    return accepted;
  }
  const options: SocketConstructorOpts & { handle: unknown; onread: OnReadOpts } = { handle, readable: true, writable: true, onread: reusedReadBuffer(read) };
  internals._handle = null;
  const socket = new Socket(options);
  accepted.destroy();
  return socket;
}
