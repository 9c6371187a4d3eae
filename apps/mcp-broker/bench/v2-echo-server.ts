// The bench's floor for the v2 client: a plain v2 SDK server (createMcpHandler, both eras)
// with one `echo` tool, in a process of its own like the broker, on node:http.
// Usage: node v2-echo-server.js <port>; prints "listening <port>" once it accepts requests.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Server, createMcpHandler } from '@modelcontextprotocol/server';

const ECHO = { name: 'echo', description: 'Echoes the message', inputSchema: { type: 'object' as const, properties: { message: { type: 'string' } } } };

// The SDK's own model: a server per request from the factory. The low-level Server keeps zod out of it.
const handler = createMcpHandler(() => {
  const server = new Server({ name: 'v2-echo', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler('tools/list', () => ({ tools: [ECHO] }));
  server.setRequestHandler('tools/call', (request) => ({ content: [{ type: 'text', text: `Echo: ${String(request.params.arguments?.['message'])}` }] }));
  return server;
});

/** node:http to the handler's web-standard face (what @modelcontextprotocol/node's toNodeHandler does). */
async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
  const body = req.method === 'POST' ? Buffer.concat(chunks) : undefined;
  const response = await handler.fetch(new Request(`http://127.0.0.1${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, body }));
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
}

const http = createServer((req, res) => {
  serve(req, res).catch((error: unknown) => {
    if (!res.headersSent) res.writeHead(500);
    res.end(error instanceof Error ? error.message : String(error));
  });
});
http.keepAliveTimeout = 60_000;
http.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = http.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
