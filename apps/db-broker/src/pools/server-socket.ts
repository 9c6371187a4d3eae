import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';

/** Bytes one read of a server socket takes at most; a longer answer arrives in several reads. */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Who reads a pooled connection's socket: pg's parser, or a relay set while the wire front
 * has the connection leased (see ServerLink). The relay gets a view of the socket's read
 * buffer and returns whether it kept a reference to those bytes past the call (an
 * incomplete message, a write that did not complete at once); the next read then goes
 * to a new buffer instead of overwriting them.
 */
export interface SocketRoute {
  /** Gets bytes `0..length` of `bytes`. */
  relay: ((bytes: Buffer, length: number) => boolean) | undefined;
}

const routes = new WeakMap<Socket, SocketRoute>();

/**
 * The socket pg connects a pooled connection over (pg's `stream` option, TCP without TLS).
 * It reads through Node's `onread` into one reused buffer instead of the Readable stream,
 * which allocates a buffer, pushes it through the stream's state and schedules a tick per
 * read: per transaction that was most of what reading a server answer cost the relay.
 * pg's parser still gets every byte it reads (as `data` events, each chunk its own copy,
 * since the parser keeps the start of an incomplete message).
 */
export function serverSocket(): Socket {
  const route: SocketRoute = { relay: undefined };
  let buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  let kept = false;
  // `onread` is read by the constructor as by `connect` (pg calls `connect(port, host)`), though typed for `connect` only.
  const options: SocketConstructorOpts & { onread: OnReadOpts } = {
    onread: {
      // Asked before every read.
      buffer: () => {
        if (kept) {
          buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
          kept = false;
        }
        return buffer;
      },
      // `read` is the buffer handed out last: the relay reads it in place.
      callback: (nread: number, read: Uint8Array) => {
        if (route.relay) kept = route.relay(read as Buffer, nread);
        else socket.emit('data', Buffer.from(read.subarray(0, nread)));
        return true;
      },
    },
  };
  const socket = new Socket(options);
  routes.set(socket, route);
  return socket;
}

/** The route of a socket made by {@link serverSocket}; undefined for any other (a TLS connection's). */
export function routeOf(socket: Socket): SocketRoute | undefined {
  return routes.get(socket);
}
