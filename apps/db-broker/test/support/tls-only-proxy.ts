import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/**
 * A TLS-terminating front for a Postgres server, as managed Postgres services put before
 * theirs: a connection must open with SSLRequest and switch to TLS; a first packet in
 * clear (a plaintext CancelRequest, say) is dropped unanswered.
 */
export interface TlsOnlyProxy {
  port: number;
  /** Connections whose first packet came in clear, and were dropped. */
  plaintextRefused: number;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;

export async function startTlsOnlyProxy(targetPort: number, certFile: string, keyFile: string): Promise<TlsOnlyProxy> {
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  const sockets = new Set<Socket>();
  const proxy: TlsOnlyProxy = { port: 0, plaintextRefused: 0, close: async () => undefined };
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.once('readable', () => {
      const first = client.read(8) as Buffer | null;
      if (!first || first.readInt32BE(0) !== 8 || first.readInt32BE(4) !== SSL_REQUEST) {
        proxy.plaintextRefused++;
        client.destroy();
        return;
      }
      client.write('S');
      const secure = new TLSSocket(client, { isServer: true, cert, key });
      const upstream = connect(targetPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      secure.pipe(upstream).pipe(secure);
      secure.on('error', () => upstream.destroy());
      upstream.on('error', () => secure.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  proxy.port = typeof address === 'object' && address ? address.port : 0;
  proxy.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}
