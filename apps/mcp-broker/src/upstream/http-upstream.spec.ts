import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ConnectionState } from '@patchbay/core';
import { eventually, freePort } from '@patchbay/testkit';
import { agentTool, createManager, settled, statusOf } from '../../test/support/servers';
import type { ServerManager } from './server-manager';

const EVERYTHING = join(__dirname, '..', '..', '..', '..', 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

/** A `remote` server at `url` on a manager of its own. */
function serveHttp(url: string): ServerManager {
  const manager = createManager({ maxRetries: 1 });
  manager.upsert(agentTool('remote', { transport: 'streamable-http' }, url));
  return manager;
}

/** A stateful Streamable HTTP MCP server whose sessions can all be forgotten, as after a restart. */
function sessionServer(): { server: HttpServer; forget(): void; initializations(): number } {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  let initializations = 0;
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body: unknown = raw ? JSON.parse(raw) : undefined;
      const id = req.headers['mcp-session-id'];
      const existing = typeof id === 'string' ? transports.get(id) : undefined;
      if (existing) return void existing.handleRequest(req, res, body);
      if (typeof id === 'string') {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        return;
      }
      initializations++;
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => void transports.set(sid, transport),
      });
      const mcp = new McpServer({ name: 'sessions', version: '1' });
      mcp.registerTool('hello', { description: 'says hello' }, async () => ({ content: [{ type: 'text', text: 'hello' }] }));
      void mcp.connect(transport).then(() => transport.handleRequest(req, res, body));
    });
  });
  return { server, forget: () => transports.clear(), initializations: () => initializations };
}

describe('MCP servers over HTTP', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('gets a fresh session transparently when the upstream forgot ours (404), retrying the call once', async () => {
    const { server: http, forget, initializations } = sessionServer();
    const port = await freePort();
    await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => http.close(() => resolve())));
    const manager = serveHttp(`http://127.0.0.1:${port}/mcp`);
    cleanups.push(() => manager.close());
    const upstream = await settled(manager, 'remote', 15_000);
    expect(upstream.state).toBe(ConnectionState.ACTIVE);
    expect(initializations()).toBe(1);

    forget();
    const result = await upstream.callTool('hello', {});
    expect(result).toMatchObject({ content: [{ text: 'hello' }] });
    expect(initializations()).toBe(2);
    expect(upstream.state).toBe(ConnectionState.ACTIVE);
    expect(statusOf(manager, 'remote').transitions.some((t) => t.to === ConnectionState.RETRYING)).toBe(false);
  });

  it('falls back to legacy SSE when a streamable-http url only speaks SSE', async () => {
    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, [EVERYTHING, 'sse'], {
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    );
    await eventually(() => /running on port/.test(stderr), 20_000, 'server-everything sse listening');
    const manager = serveHttp(`http://127.0.0.1:${port}/sse`);
    cleanups.push(() => manager.close());
    const upstream = await settled(manager, 'remote', 20_000);
    expect(upstream.state).toBe(ConnectionState.ACTIVE);
    expect(statusOf(manager, 'remote').transport).toBe('sse');
    expect(await upstream.callTool('echo', { message: 'legacy' })).toMatchObject({ content: [{ text: 'Echo: legacy' }] });
  });
});
