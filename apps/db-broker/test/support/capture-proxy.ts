import { connect, createServer, type Server, type Socket } from 'node:net';

/** A TCP relay in front of a port that keeps every byte both ways: what a network observer would see. */
export interface CaptureProxy {
  port: number;
  /** Everything relayed so far, both directions. */
  captured(): Buffer;
  close(): Promise<void>;
}

export async function startCaptureProxy(targetPort: number): Promise<CaptureProxy> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on('data', (chunk: Buffer) => {
        chunks.push(Buffer.from(chunk));
        to.write(chunk);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => sockets.delete(from));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    captured: () => Buffer.concat(chunks),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
