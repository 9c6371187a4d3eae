import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { PoolTarget } from '../pools/pool-target';
import { cancelRequest, sslRequest } from './protocol';

/** How long a forwarded cancel may take before it is dropped (a cancel is best effort). */
const CANCEL_TIMEOUT_MS = 5_000;

/**
 * Sends a CancelRequest for a server backend on a connection of its own, the way the pool
 * reaches that server: over TLS when the connector asks for it (`sslmode=require` and up),
 * since TLS-only endpoints (managed Postgres behind a TLS proxy) drop a plaintext packet.
 * Like libpq with `sslmode=require`, a server that refuses TLS gets no cancel in clear.
 */
export function forwardCancel(target: Pick<PoolTarget, 'host' | 'port' | 'ssl'>, pid: number, secret: number, onError: (reason: string) => void): void {
  const packet = cancelRequest(pid, secret);
  const socket = connect(target.port, target.host);
  const fail = (reason: string): void => {
    onError(reason);
    socket.destroy();
  };
  guard(socket, fail);
  if (!target.ssl) {
    socket.once('connect', () => socket.end(packet));
    return;
  }
  socket.once('connect', () => socket.write(sslRequest()));
  socket.once('data', (answer: Buffer) => {
    if (answer[0] !== 0x53 /* S */) return fail('the server refused TLS for the cancel request');
    const secure = tlsConnect({
      socket,
      // Same trust as the pool's own connections (pg with rejectUnauthorized: false).
      rejectUnauthorized: false,
      ...(isIP(target.host) ? {} : { servername: target.host }),
    });
    guard(secure, fail);
    secure.once('secureConnect', () => secure.end(packet));
  });
}

function guard(socket: Socket, fail: (reason: string) => void): void {
  socket.setTimeout(CANCEL_TIMEOUT_MS, () => fail('the server did not take the cancel request in time'));
  socket.on('error', (error) => fail(error.message));
}
