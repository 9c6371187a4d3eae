import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ProgressNotificationSchema, type ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { GroupStdioTransport } from './group-stdio-transport';
import type { ServerSpec } from './server-spec';
import { isolatingFetch } from './isolating-fetch';

const CLIENT_INFO = { name: 'patchbay-mcp-broker', version: '0.1.0' };

/** One open MCP session to an upstream server (one process for stdio). */
export interface UpstreamSession {
  readonly client: Client;
  readonly transport: Transport;
  /** The stdio server's process (group) id. */
  readonly pid: number | undefined;
  /** The transport actually used (`sse` when a streamable-http server only spoke legacy SSE). */
  readonly transportUsed: ServerSpec['transport'];
  inFlight: number;
  closed: boolean;
  /** Progress listeners of calls in flight, by the progress token the broker sent. */
  readonly progress: Map<string, (progress: ProgressParams) => void>;
}

export type ProgressParams = { progress: number; total?: number; message?: string };

export interface OpenOptions {
  connectTimeoutMs: number;
  /**
   * What the broker tells the upstream it can do as a client. Nothing by default: only a
   * session opened for one downstream client declares that client's sampling, elicitation
   * and roots, so no upstream is promised what its caller cannot do.
   */
  capabilities?: ClientCapabilities;
  /** Installs handlers on the client before it connects (a server may ask or notify at once). */
  prepare?: (client: Client) => void;
  onStderr?: (line: string) => void;
  /** Called once when the session ends without us closing it (crash, dropped connection). */
  onLost: (session: UpstreamSession, reason: string) => void;
}

function httpTransport(spec: ServerSpec, kind: 'streamable-http' | 'sse'): Transport {
  const url = new URL(spec.url ?? '');
  const requestInit = { headers: spec.headers };
  // One signal per request, not the transport's shared one (see isolatingFetch).
  const options = { requestInit, fetch: isolatingFetch() };
  return kind === 'sse' ? new SSEClientTransport(url, options) : new StreamableHTTPClientTransport(url, options);
}

async function connect(client: Client, transport: Transport, timeoutMs: number): Promise<void> {
  await client.connect(transport, { timeout: timeoutMs });
}

/** True when a Streamable HTTP attempt failed in a way that suggests a legacy SSE server. */
function suggestsLegacySse(error: unknown): boolean {
  return error instanceof StreamableHTTPError && error.code !== undefined && [400, 404, 405].includes(error.code);
}

/**
 * Opens a session: spawns the stdio server in its own process group, or connects over
 * Streamable HTTP, falling back to legacy SSE when the server answers like an old one.
 */
export async function openSession(spec: ServerSpec, options: OpenOptions): Promise<UpstreamSession> {
  let transport: Transport;
  let transportUsed = spec.transport;
  const client = new Client(CLIENT_INFO, { capabilities: options.capabilities ?? {} });
  const progress = new Map<string, (params: ProgressParams) => void>();
  // The SDK drops a request's progress handler when its response arrives, before it runs
  // notification handlers (a microtask later): a server's last progress, sent just before
  // its result, would be lost. Our own tokens stay routable until the call is done.
  client.setNotificationHandler(ProgressNotificationSchema, (notification) => {
    const { progressToken, ...params } = notification.params;
    progress.get(String(progressToken))?.(params);
  });
  options.prepare?.(client);
  if (spec.transport === 'stdio') {
    transport = new GroupStdioTransport({
      command: spec.command ?? '',
      args: spec.args,
      env: spec.env,
      cwd: spec.cwd,
      ...(options.onStderr ? { onStderr: options.onStderr } : {}),
    });
    try {
      await connect(client, transport, options.connectTimeoutMs);
    } catch (error) {
      await transport.close().catch(() => undefined);
      throw error;
    }
  } else {
    transport = httpTransport(spec, spec.transport);
    try {
      await connect(client, transport, options.connectTimeoutMs);
    } catch (error) {
      await client.close().catch(() => undefined);
      if (spec.transport !== 'streamable-http' || !suggestsLegacySse(error)) throw error;
      transport = httpTransport(spec, 'sse');
      transportUsed = 'sse';
      await connect(client, transport, options.connectTimeoutMs);
    }
  }
  const session: UpstreamSession = {
    client,
    transport,
    pid: transport instanceof GroupStdioTransport ? transport.pid : undefined,
    transportUsed,
    inFlight: 0,
    closed: false,
    progress,
  };
  client.onclose = () => {
    if (session.closed) return;
    session.closed = true;
    options.onLost(session, spec.transport === 'stdio' ? 'server process exited' : 'connection closed');
  };
  return session;
}

/** Closes a session on purpose (kills the stdio process group). */
export async function closeSession(session: UpstreamSession): Promise<void> {
  session.closed = true;
  if (session.transport instanceof StreamableHTTPClientTransport) {
    // Tell the server to drop the session; ignore servers that don't support DELETE.
    await session.transport.terminateSession().catch(() => undefined);
  }
  await session.client.close().catch(() => undefined);
}

/** Closes a session once its calls finished, or after `drainMs` anyway. */
export async function closeWhenIdle(session: UpstreamSession, drainMs: number): Promise<void> {
  const deadline = Date.now() + drainMs;
  // inFlight is a plain counter (no event on zero), so poll; drains are rare and short.
  while (session.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await closeSession(session);
}
