import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  ErrorCode as RpcCode,
  SUPPORTED_PROTOCOL_VERSIONS,
  isInitializeRequest,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { mayUseConnector, parseJsonBody, readJsonBody, sendJson, type Principal } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { ServerManager } from '../upstream/server-manager';
import type { CallOptions } from '../upstream/upstream-handle';
import type { UpstreamServer } from '../upstream/upstream-server';
import { originAllowed, type OriginPolicy } from './origin-policy';
import { paramsProblem } from './request-params';
import { RpcError, toRpcError } from './rpc-errors';
import { SessionLimits } from './session-limits';
import type { ToolCalls } from './tool-calls';

export interface McpEndpointSettings {
  /** No sessions: every POST is handled on its own (horizontal scaling without affinity). */
  stateless: boolean;
  /** Answer POSTs with one JSON body instead of an SSE stream (no mid-call notifications). */
  jsonResponse: boolean;
  /** Sessions idle this long are closed. */
  sessionIdleMs: number;
  /** Open sessions on this replica, and of one token. */
  maxSessions: number;
  maxSessionsPerToken: number;
  /** Browser origins allowed (requests without `Origin` always are). */
  allowedOrigins: OriginPolicy;
  /** Largest POST body accepted, in bytes. */
  bodyLimitBytes: number;
}

/** One request to `/mcp` as the handlers see it. */
interface McpRequest {
  req: IncomingMessage;
  res: ServerResponse;
  principal: Principal;
  /** The parsed JSON-RPC body of a POST. */
  body: unknown;
}

interface DownstreamSession {
  id: string;
  transport: StreamableHTTPServerTransport;
  server: Server;
  principal: Principal;
  lastSeen: number;
  /** Calls answered on the fast path, by JSON-RPC id, so `notifications/cancelled` reaches them. */
  fastCalls: Map<string | number, AbortController>;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const SERVER_INFO = { name: 'patchbay-mcp-broker', version: '0.1.0' };
const INSTRUCTIONS =
  'Tools, prompts and resources of every connected MCP server, named <serverId>__<name>. ' + 'Call patchbay__servers to see the servers and their state.';

/**
 * The aggregated MCP endpoint at `/mcp` (Streamable HTTP). The kit's pipeline serves it
 * as declared operations (token, scopes, shutdown, JSON-RPC error shape, metric and log
 * line); this class keeps what is MCP's: the origin policy, downstream sessions and their
 * limits, and a fast path for single tool calls.
 */
export class McpEndpoint {
  private readonly sessions = new Map<string, DownstreamSession>();
  private sweeper: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly limits: SessionLimits;

  constructor(
    private readonly manager: ServerManager,
    private readonly calls: ToolCalls,
    private readonly settings: McpEndpointSettings,
    private readonly logger: Logger,
  ) {
    manager.on('catalog', () => this.notifyListChanged());
    this.limits = new SessionLimits({ maxSessions: settings.maxSessions, maxSessionsPerToken: settings.maxSessionsPerToken, idleMs: settings.sessionIdleMs });
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Starts closing idle sessions. */
  start(): void {
    this.sweeper = setInterval(() => this.sweep(), this.sweepEveryMs());
    this.sweeper.unref();
  }

  /** Closes every downstream session (their open SSE streams would hold shutdown). */
  async close(): Promise<void> {
    this.closing = true;
    if (this.sweeper) clearInterval(this.sweeper);
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.transport.close().catch(() => undefined)));
  }

  /**
   * One authenticated request to `/mcp`. Resolves once its response closed, so the log
   * line has the status and duration of the whole exchange (an SSE stream included).
   * @throws PatchbayError for a refused origin, during shutdown, or a bad body (rendered as JSON-RPC).
   */
  async serve(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
    // DNS rebinding: a page of another site, resolved to this host, must not drive it.
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(this.settings.allowedOrigins, origin)) throw originRefused(origin);
    if (this.closing) {
      res.setHeader('connection', 'close');
      throw new PatchbayError(ErrorCode.UNAVAILABLE, 'shutting down; retry on another replica', { retryAfterSeconds: 1 });
    }
    const closed = res.closed ? Promise.resolve() : once(res, 'close').then(() => undefined);
    const body = req.method === 'POST' ? parseJsonBody(await readJsonBody(req, this.settings.bodyLimitBytes)) : undefined;
    await this.handle({ req, res, principal, body });
    await closed;
  }

  private async handle(request: McpRequest): Promise<void> {
    const { req, res, principal, body } = request;
    let session: DownstreamSession | undefined;
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (!this.settings.stateless && sessionId !== undefined) {
      session = this.sessions.get(sessionId);
      if (!session || session.principal.name !== principal.name) {
        return this.rpcError(res, 404, RpcCode.ConnectionClosed, 'Session not found: initialize a new session');
      }
      session.lastSeen = Date.now();
    }
    if (req.method === 'POST' && (session || this.settings.stateless)) {
      const invalid = this.invalidParams(request, session);
      if (invalid) return invalid;
      const fast = this.fastPath(request, session);
      if (fast) return fast;
    }

    if (this.settings.stateless) return this.handleStateless(request);
    if (session) return session.transport.handleRequest(req, res, body);
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return this.rpcError(res, 400, RpcCode.InvalidRequest, 'Bad Request: no Mcp-Session-Id header; start with an initialize request');
    }
    this.limits.admit(principal.name, (token) => this.nextExpiry(token));
    const created = await this.createSession(principal);
    await created.transport.handleRequest(req, res, body);
    // An initialize the transport refused leaves no session behind to count against the caps.
    if (created.transport.sessionId === undefined) {
      this.forget(created.id);
      void created.transport.close().catch(() => undefined);
    }
  }

  /** Answers a request whose params are malformed with -32602 saying what to fix. */
  private invalidParams(request: McpRequest, session: DownstreamSession | undefined): Promise<void> | undefined {
    const message = request.body;
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return undefined;
    const { id, method, params } = message as { id?: unknown; method?: unknown; params?: unknown };
    if (typeof id !== 'string' && typeof id !== 'number') return undefined;
    const problem = paramsProblem(method, params);
    if (problem === undefined) return undefined;
    const error = new RpcError(RpcCode.InvalidParams, problem).toJSON();
    sendJson(request.res, 200, JSON.stringify({ jsonrpc: '2.0', id, error }), session ? { 'mcp-session-id': session.id } : {});
    return Promise.resolve();
  }

  /**
   * The hot path: a single `tools/call` without a progress token (nothing to stream), a
   * `tools/list` or a `ping` is answered here with one JSON body, as the Streamable HTTP
   * spec allows for any POST, instead of going through the SDK's web-standard transport
   * and a server instance. Everything else (initialize, progress, GET streams, DELETE,
   * batches, anything malformed) takes the SDK path. Returns undefined when not handled,
   * else a promise that settles once the answer was sent.
   */
  private fastPath(request: McpRequest, session: DownstreamSession | undefined): Promise<void> | undefined {
    const { req, res, principal } = request;
    const message = request.body;
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return undefined;
    const { jsonrpc, id, method, params } = message as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
    if (jsonrpc !== '2.0') return undefined;
    const accept = req.headers.accept;
    if (typeof accept !== 'string' || !(accept.includes('application/json') || accept.includes('*/*'))) return undefined;
    const version = req.headers['mcp-protocol-version'];
    if (version !== undefined && (typeof version !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version))) return undefined;
    const p = (typeof params === 'object' && params !== null ? params : {}) as {
      name?: unknown;
      arguments?: unknown;
      _meta?: { progressToken?: unknown };
      requestId?: unknown;
    };

    if (id === undefined && method === 'notifications/cancelled' && session) {
      const running = session.fastCalls.get(p.requestId as string | number);
      if (!running) return undefined;
      running.abort();
      res.writeHead(202).end();
      return Promise.resolve();
    }
    if (typeof id !== 'string' && typeof id !== 'number') return undefined;
    const answer = async (body: unknown): Promise<void> => {
      if (res.destroyed) return;
      sendJson(res, 200, JSON.stringify(body), session ? { 'mcp-session-id': session.id } : {});
    };
    if (method === 'ping') return answer({ jsonrpc: '2.0', id, result: {} });
    if (method === 'tools/list') return answer({ jsonrpc: '2.0', id, result: { tools: this.calls.visibleTools(principal) } });
    if (method !== 'tools/call' || typeof p.name !== 'string' || p._meta?.progressToken !== undefined) return undefined;
    const args = p.arguments;
    if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) return undefined;

    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    session?.fastCalls.set(id, controller);
    const options: CallOptions = { signal: controller.signal };
    if (session && session.id) options.sessionKey = session.id;
    return this.calls.call(p.name, args as Record<string, unknown> | undefined, principal, options).then(
      (result) => {
        session?.fastCalls.delete(id);
        return answer({ jsonrpc: '2.0', id, result });
      },
      (error: unknown) => {
        session?.fastCalls.delete(id);
        return answer({ jsonrpc: '2.0', id, error: toRpcError(error).toJSON() });
      },
    );
  }

  private async handleStateless(request: McpRequest): Promise<void> {
    const { req, res, principal, body } = request;
    if (req.method !== 'POST') {
      return this.rpcError(res, 405, RpcCode.InvalidRequest, 'Method not allowed: this endpoint is stateless, use POST');
    }
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: this.settings.jsonResponse });
    const server = this.createServer(principal, undefined);
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  private async createSession(principal: Principal): Promise<DownstreamSession> {
    const id = randomUUID();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      enableJsonResponse: this.settings.jsonResponse,
      onsessioninitialized: () => undefined,
    });
    const server = this.createServer(principal, id);
    const session: DownstreamSession = { id, transport, server, principal, lastSeen: Date.now(), fastCalls: new Map() };
    this.sessions.set(id, session);
    this.limits.opened(principal.name);
    transport.onclose = () => this.forget(id);
    await server.connect(transport);
    return session;
  }

  private forget(id: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    this.limits.closed(session.principal.name);
    for (const upstream of this.manager.list()) if (upstream.spec.stateful) upstream.release(id);
  }

  private createServer(principal: Principal, sessionId: string | undefined): Server {
    const server = new Server(SERVER_INFO, {
      capabilities: { tools: { listChanged: true }, resources: { listChanged: true }, prompts: { listChanged: true } },
      instructions: INSTRUCTIONS,
    });
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: this.calls.visibleTools(principal) }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const options = this.callOptions(extra, request.params._meta?.progressToken, sessionId);
      try {
        return (await this.calls.call(request.params.name, request.params.arguments, principal, options)) as { content: [] };
      } catch (error) {
        throw toRpcError(error);
      } finally {
        await options.flush();
      }
    });
    server.setRequestHandler(ListPromptsRequestSchema, () => ({
      prompts: this.manager.catalog.prompts.filter((p) => this.mayUse(principal, this.manager.catalog.promptRoutes.get(p.name)?.server)),
    }));
    server.setRequestHandler(GetPromptRequestSchema, async (request, extra) => {
      const route = this.manager.catalog.promptRoutes.get(request.params.name);
      if (!route || !this.mayUse(principal, route.server)) throw new RpcError(RpcCode.InvalidParams, `unknown prompt '${request.params.name}'`);
      const options = this.callOptions(extra, request.params._meta?.progressToken, sessionId);
      try {
        return (await route.server.getPrompt(route.upstreamName, request.params.arguments, options)) as { messages: [] };
      } catch (error) {
        throw toRpcError(error);
      }
    });
    server.setRequestHandler(ListResourcesRequestSchema, () => ({
      resources: this.manager.catalog.resources.filter((r) => this.mayUse(principal, this.manager.catalog.resourceOwners.get(r.uri))),
    }));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
      resourceTemplates: this.manager.catalog.resourceTemplates.filter((t) => this.mayUse(principal, this.manager.catalog.templateServers.get(t))),
    }));
    server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) => {
      const owner = this.resourceOwner(request.params.uri, principal);
      if (!owner) throw new RpcError(RpcCode.InvalidParams, `unknown resource '${request.params.uri.slice(0, 200)}'`);
      try {
        return (await owner.readResource(request.params.uri, this.callOptions(extra, undefined, sessionId))) as { contents: [] };
      } catch (error) {
        throw toRpcError(error);
      }
    });
    return server;
  }

  /**
   * Call options for one downstream request. Progress is relayed under the caller's own
   * token; `flush` waits for relayed notifications so none lands after the result
   * (which would close the response stream first).
   */
  private callOptions(extra: Extra, progressToken: string | number | undefined, sessionId: string | undefined): CallOptions & { flush(): Promise<void> } {
    let pending: Promise<void> = Promise.resolve();
    const options: CallOptions & { flush(): Promise<void> } = { signal: extra.signal, flush: () => pending };
    if (sessionId !== undefined) options.sessionKey = sessionId;
    if (progressToken !== undefined) {
      options.onProgress = (p) => {
        const sent = extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken } }).catch(() => undefined);
        pending = Promise.all([pending, sent]).then(() => undefined);
      };
    }
    return options;
  }

  /** The server a read of `uri` goes to, among those the principal may use. */
  private resourceOwner(uri: string, principal: Principal): UpstreamServer | undefined {
    const catalog = this.manager.catalog;
    const exact = catalog.resourceOwners.get(uri);
    if (exact) return this.mayUse(principal, exact) ? exact : undefined;
    return catalog.templateOwners.find(([prefix, server]) => prefix.length > 0 && uri.startsWith(prefix) && this.mayUse(principal, server))?.[1];
  }

  /** When (epoch ms) the sweeper will next close an idle session of `token` (of anyone when undefined). */
  private nextExpiry(token: string | undefined): number | undefined {
    let oldest: number | undefined;
    for (const session of this.sessions.values()) {
      if (token !== undefined && session.principal.name !== token) continue;
      if (oldest === undefined || session.lastSeen < oldest) oldest = session.lastSeen;
    }
    // The sweeper runs every sweepEveryMs, so a session may outlive its idle time by that much.
    return oldest === undefined ? undefined : oldest + this.settings.sessionIdleMs + this.sweepEveryMs();
  }

  private sweepEveryMs(): number {
    return Math.min(60_000, this.settings.sessionIdleMs);
  }

  private mayUse(principal: Principal, server: UpstreamServer | undefined): boolean {
    return server !== undefined && mayUseConnector(principal, server.spec.configId);
  }

  private notifyListChanged(): void {
    for (const session of this.sessions.values()) {
      const server = session.server;
      if (!server.getClientCapabilities()) continue;
      void server.sendToolListChanged().catch(() => undefined);
      void server.sendPromptListChanged().catch(() => undefined);
      void server.sendResourceListChanged().catch(() => undefined);
    }
  }

  private sweep(): void {
    const cutoff = Date.now() - this.settings.sessionIdleMs;
    for (const session of [...this.sessions.values()]) {
      if (session.lastSeen < cutoff) {
        this.logger.info({ session: session.id }, 'closing idle MCP session');
        this.forget(session.id);
        void session.transport.close().catch(() => undefined);
      }
    }
  }

  private rpcError(res: ServerResponse, status: number, code: number, message: string): void {
    sendJson(res, status, JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
  }
}

function originRefused(origin: string): PatchbayError {
  return new PatchbayError(
    ErrorCode.FORBIDDEN,
    `Origin '${origin.slice(0, 200)}' is not allowed on /mcp: to let a browser app on that origin connect, add it to PATCHBAY_MCP_ALLOWED_ORIGINS (comma-separated) on the mcp-broker`,
  );
}
