// The floor: a 30-line undici passthrough with no auth, routing, retries or metrics.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Pool } from 'undici';

const upstream = new Pool(process.env.UPSTREAM_ORIGIN ?? '', { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });

// Never rejects: a failure before the head is a 502, one mid-stream can only cut the response.
async function relay(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
  try {
    const answer = await upstream.request({
      path: req.url ?? '/',
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
      body,
    });
    res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type']) });
    for await (const chunk of answer.body) res.write(chunk);
    res.end();
  } catch {
    if (res.headersSent) res.destroy();
    else res.writeHead(502).end();
  }
}

const server = createServer({ keepAlive: true }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => void relay(req, res, Buffer.concat(chunks)));
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => process.send?.({ ready: true }));
