import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy that adds `Authorization: Bearer <token>` to every request and streams
 * both ways (SSE included): for tools that cannot send a token, such as the MCP
 * conformance suite; or a load balancer without affinity when retargeted. Host and Origin
 * pass through, so origin checks still see the caller's.
 */
export async function startAuthProxy(target: string, token: string): Promise<{ url: string; retarget(url: string): void; close(): Promise<void> }> {
  let upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    const forwarded = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, authorization: `Bearer ${token}` } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => forwarded.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    /** Sends the next requests elsewhere (a load balancer moving a client to another replica). */
    retarget: (url) => {
      upstream = new URL(url);
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
