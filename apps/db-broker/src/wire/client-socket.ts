import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';

/** Bytes one read of a client socket takes at most; a longer message arrives in several reads. */
const READ_BUFFER_BYTES = 64 * 1024;

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
 * `read` gets the buffer and the length read into it, and returns whether it kept a reference to those bytes
 * past the call (an incomplete or queued message, a write that did not complete at once):
 * the next read then goes to a new buffer. A socket without a TCP handle is returned as it
 * is, its chunks (each its own) emitted to `read`.
 */
export function readThroughBuffer(accepted: Socket, read: (bytes: Buffer, length: number) => boolean): Socket {
  const internals = accepted as unknown as SocketInternals;
  const handle = internals._handle;
  if (!handle || typeof handle.readStart !== 'function') {
    accepted.on('data', (chunk: Buffer) => read(chunk, chunk.length));
    return accepted;
  }
  let buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  let kept = false;
  const options: SocketConstructorOpts & { handle: unknown; onread: OnReadOpts } = {
    handle,
    readable: true,
    writable: true,
    onread: {
      // Asked before every read.
      buffer: () => {
        if (kept) {
          buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
          kept = false;
        }
        return buffer;
      },
      // `bytes` is the buffer handed out last: the reader reads it in place.
      callback: (nread: number, bytes: Uint8Array) => {
        kept = read(bytes as Buffer, nread);
        return true;
      },
    },
  };
  internals._handle = null;
  const socket = new Socket(options);
  accepted.destroy();
  return socket;
}
