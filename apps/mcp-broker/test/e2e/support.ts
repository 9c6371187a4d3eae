import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { credentials, Metadata } from '@grpc/grpc-js';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { MCP_SERVICE, loadService } from '@patchbay/proto';
import { TEST_ADMIN_TOKEN, api, eventually, freePort } from '@patchbay/testkit';

const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');
export const EVERYTHING = join(REPO_ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
export const MEMORY = join(REPO_ROOT, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');
export const PROBE = join(__dirname, '..', 'fixtures', 'probe-server.cjs');

/** Lines of the process table (`pid pgid args`) that mention `tag`. */
export function processesTagged(tag: string): string[] {
  const table = execFileSync('ps', ['-eo', 'pid,pgid,args'], { encoding: 'utf8' });
  return table.split('\n').filter((line) => line.includes(tag) && !line.includes('ps -eo'));
}

/** server-everything serving Streamable HTTP at `http://127.0.0.1:<port>/mcp`. */
export async function startEverythingHttp(tag: string, fixedPort?: number): Promise<{ url: string; port: number; child: ChildProcess; stop(): Promise<void> }> {
  const port = fixedPort ?? (await freePort());
  const child = spawn(process.execPath, [EVERYTHING, 'streamableHttp', tag], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await eventually(() => /listening on port/.test(output) || undefined, 20_000, `server-everything http to listen (${output})`);
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** An MCP SDK client connected to the broker's `/mcp` (or `path`, e.g. a virtual server's `/mcp/<configId>`). */
export async function mcpClient(
  brokerUrl: string,
  token = TEST_ADMIN_TOKEN,
  path = '/mcp',
  client = new Client({ name: 'e2e', version: '1.0.0' }),
): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${brokerUrl}${path}`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

export interface ServerView {
  id: string;
  state: string;
  pids: number[];
  restarts: number;
  breaker: string;
  lastError: string | null;
  tools: number;
  transitions: { from: string; to: string; at: string; reason?: string }[];
}

export async function serverStatus(brokerUrl: string, id: string): Promise<ServerView> {
  const response = await api<ServerView>(brokerUrl, 'GET', `/v1/servers/${id}`);
  if (response.status !== 200) throw new Error(`GET /v1/servers/${id}: ${response.status} ${response.text}`);
  return response.body;
}

/** Text of the first content item of a tool result. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content[0]?.text ?? '';
}

export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e-raw', version: '1.0.0' } },
};

/** A raw `initialize` POST to `/mcp` (to see statuses and headers the SDK client hides). */
export async function rawInitialize(brokerUrl: string, token: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${brokerUrl}/mcp`, {
    method: 'POST',
    headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(INITIALIZE),
  });
}

/** Opens a session with raw requests; returns its id. */
export async function rawSession(brokerUrl: string, token: string): Promise<string> {
  const response = await rawInitialize(brokerUrl, token);
  await response.text();
  const id = response.headers.get('mcp-session-id');
  if (response.status !== 200 || !id) throw new Error(`initialize: ${response.status}`);
  const initialized = await fetch(`${brokerUrl}/mcp`, {
    method: 'POST',
    headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, 'mcp-session-id': id },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await initialized.text();
  return id;
}

/** The JSON-RPC answer to one request in a raw session (JSON or a one-event SSE stream). */
export async function rawRequest(brokerUrl: string, token: string, sessionId: string, message: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${brokerUrl}/mcp`, {
    method: 'POST',
    headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, 'mcp-session-id': sessionId },
    body: JSON.stringify(message),
  });
  const text = await response.text();
  const data = response.headers.get('content-type')?.includes('text/event-stream')
    ? text
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .at(-1)
    : text;
  return { status: response.status, body: data ? (JSON.parse(data) as unknown) : undefined };
}

/** Creates or replaces a connector in the registry (admin token); throws with the answer on failure. */
export async function putConnector(registryUrl: string, configId: string, body: unknown): Promise<void> {
  const response = await api(registryUrl, 'PUT', `/v1/connectors/${configId}`, { body });
  if (response.status >= 300) throw new Error(`PUT ${configId}: ${response.status} ${response.text}`);
}

/** Resolves once the broker lists exactly `count` servers, all active. */
export async function waitAllActive(brokerUrl: string, count: number): Promise<void> {
  await eventually(
    async () => {
      const { body } = await api<{ items: { state: string }[] }>(brokerUrl, 'GET', '/v1/servers');
      return body.items.length === count && body.items.every((s) => s.state === 'active');
    },
    45_000,
    'every server active',
  );
}

export type Unary = (method: string, request: unknown, token: string) => Promise<Record<string, unknown>>;

/** A client of the broker's gRPC service calling unary methods with a bearer token. */
export function grpcCaller(address: string): { unary: Unary; close(): void } {
  const { Client: GrpcClient } = loadService('mcp', MCP_SERVICE);
  const grpc = new GrpcClient(address, credentials.createInsecure()) as unknown as Record<
    string,
    (req: unknown, md: Metadata, cb: (err: Error | null, res: Record<string, unknown>) => void) => void
  > & { close(): void };
  return {
    unary: (method, request, token) => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      return new Promise((resolve, reject) => grpc[method]?.(request, metadata, (err, res) => (err ? reject(err) : resolve(res))));
    },
    close: () => grpc.close(),
  };
}
