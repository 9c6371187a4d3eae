import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import { reusedReadBuffer } from '../wire/read-buffer';

/**
 * Who reads a pooled connection's socket: pg's parser, or a relay set while the wire front
 * has the connection leased (see ServerLink). The relay reads the socket's read buffer in
 * place and says whether it kept a reference to it, as for {@link reusedReadBuffer}.
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
  // `onread` is read by the constructor as by `connect` (pg calls `connect(port, host)`), though typed for `connect` only.
  const options: SocketConstructorOpts & { onread: OnReadOpts } = {
    onread: reusedReadBuffer((bytes, length) => {
      if (route.relay) return route.relay(bytes, length);
      socket.emit('data', Buffer.from(bytes.subarray(0, length)));
      return false;
    }),
  };
  const socket = new Socket(options);
  routes.set(socket, route);
  return socket;
}

/** The route of a socket made by {@link serverSocket}; undefined for any other (a TLS connection's). */
export function routeOf(socket: Socket): SocketRoute | undefined {
  return routes.get(socket);
}
