import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode as RpcCode, SUPPORTED_PROTOCOL_VERSIONS, isInitializeRequest, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { mayUseConnector, parseJsonBody, readJsonBody, sendJson, type Principal } from '@patchbay/nest';
import type { Logger } from 'pino';
import { emptyView, type CatalogView } from '../curation/catalog-view';
import type { UpstreamNotification } from '../upstream/peer-sessions';
import type { ServerManager } from '../upstream/server-manager';
import type { CallOptions } from '../upstream/upstream-handle';
import type { UpstreamServer } from '../upstream/upstream-server';
import { classifyModern, isModernProblem } from './modern-era';
import { ModernRequests, modernProblemBody } from './modern-requests';
import { originAllowed, type OriginPolicy } from './origin-policy';
import { paramsProblem } from './request-params';
import { RpcError, toRpcError } from './rpc-errors';
import { SessionLimits } from './session-limits';
import type { SessionRelay } from './session-relay';
import { SessionServers, SharedSubscriptions } from './session-server';
import { MemorySessionEvents, type SessionEvents } from './session-events';
import { LocalSessionStore, type SessionStore } from './session-store';
import { AdoptedSessions, responsesIn } from './adopted-sessions';
import { LocalSessionAnswers, type SessionAnswers } from './session-answers';
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
  /**
   * SSE polling (SEP-1699): a request still running this long (ms) has its SSE stream
   * closed, with this as the `retry:` hint; the client resumes with `Last-Event-ID`. 0 = off.
   */
  ssePollMs: number;
}

/** One request to `/mcp` as the handlers see it. */
interface McpRequest {
  req: IncomingMessage;
  res: ServerResponse;
  principal: Principal;
  /** The parsed JSON-RPC body of a POST. */
  body: unknown;
  /** The virtual server addressed (`/mcp/<configId>`), undefined for `/mcp`. */
  virtual: string | undefined;
}

interface DownstreamSession {
  id: string;
  transport: StreamableHTTPServerTransport;
  server: Server;
  principal: Principal;
  /** The virtual server it was opened on, undefined for `/mcp`. */
  virtual: string | undefined;
  lastSeen: number;
  /** Calls answered on the fast path, by JSON-RPC id, so `notifications/cancelled` reaches them. */
  fastCalls: Map<string | number, AbortController>;
  relay: SessionRelay;
  /** When its record in the shared store was last refreshed. */
  touched: number;
  /** Ends here only (idle here, or this replica shutting down): other replicas may go on serving it. */
  localOnly?: boolean;
}

const EMPTY_VIEW = emptyView();

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
  private readonly subscriptions = new SharedSubscriptions();
  private readonly servers: SessionServers;
  private readonly modern: ModernRequests;
  private readonly adopted: AdoptedSessions;

  constructor(
    private readonly manager: ServerManager,
    private readonly calls: ToolCalls,
    private readonly settings: McpEndpointSettings,
    private readonly logger: Logger,
    /** Where sessions are shared with other replicas. */
    private readonly store: SessionStore = new LocalSessionStore(),
    /** Where sessions' SSE events are kept for clients that reconnect (shared when the store is). */
    private readonly events: SessionEvents = new MemorySessionEvents(),
    /** Where clients' answers reach the replica that asked. */
    private readonly answers: SessionAnswers = new LocalSessionAnswers(),
  ) {
    answers.onAnswers((id, messages) => this.deliverAnswers(id, messages));
    manager.on('catalog', (view) => this.notifyListChanged(view));
    manager.on('peerCatalog', (_server, key) => {
      const session = this.sessions.get(key);
      if (session) this.peerListChanged(session);
    });
    manager.on('notification', (serverId, notification) => this.fanOut(serverId, notification));
    this.servers = new SessionServers(manager, calls, this.subscriptions, () => [...this.sessions.values()].map((s) => s.relay.logLevel), {
      ssePollMs: settings.ssePollMs,
    });
    this.modern = new ModernRequests(this.servers, manager);
    this.adopted = new AdoptedSessions(store, events, answers, this.servers, manager, {
      jsonResponse: settings.jsonResponse,
      idleMs: settings.sessionIdleMs,
      ssePollMs: settings.ssePollMs,
    });
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
    for (const session of sessions) session.localOnly = true;
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.transport.close().catch(() => undefined)));
    // Transports first: nothing stores an event once they are closed.
    await this.answers.close().catch(() => undefined);
    await this.store.close().catch(() => undefined);
    await this.events.close().catch(() => undefined);
  }

  /**
   * One authenticated request to `/mcp`. Resolves once its response closed, so the log
   * line has the status and duration of the whole exchange (an SSE stream included).
   * @throws PatchbayError for a refused origin, during shutdown, or a bad body (rendered as JSON-RPC).
   */
  async serve(req: IncomingMessage, res: ServerResponse, principal: Principal, virtual?: string): Promise<void> {
    // DNS rebinding: a page of another site, resolved to this host, must not drive it.
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(this.settings.allowedOrigins, origin)) throw originRefused(origin);
    if (this.closing) {
      res.setHeader('connection', 'close');
      throw new PatchbayError(ErrorCode.UNAVAILABLE, 'shutting down; retry on another replica', { retryAfterSeconds: 1 });
    }
    if (virtual !== undefined && !this.manager.virtual(virtual)) throw this.unknownVirtual(virtual);
    const closed = res.closed ? Promise.resolve() : once(res, 'close').then(() => undefined);
    const body = req.method === 'POST' ? parseJsonBody(await readJsonBody(req, this.settings.bodyLimitBytes)) : undefined;
    await this.handle({ req, res, principal, body, virtual });
    await closed;
  }

  private async handle(request: McpRequest): Promise<void> {
    const { req, res, principal, body } = request;
    // 2026-07-28 traffic (its _meta envelope or header) is stateless: no session is looked up or made.
    const modern = req.method === 'POST' ? classifyModern(req, body) : undefined;
    if (modern) {
      if (isModernProblem(modern)) return sendJson(res, modern.status, modernProblemBody(modern));
      const accept = req.headers.accept ?? '';
      const { authorization } = req.headers;
      return this.modern.serve({ res, principal, virtual: request.virtual, acceptsSse: accept.includes('text/event-stream'), authorization }, modern);
    }
    let session: DownstreamSession | undefined;
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (!this.settings.stateless && sessionId !== undefined) {
      session = this.sessions.get(sessionId);
      // Opened on another replica: served from its shared record.
      if (!session && (await this.adopted.serve(request, sessionId))) return;
      // A session belongs to one token and one endpoint: `/mcp` and each virtual server are separate servers.
      if (!session || session.principal.name !== principal.name || session.virtual !== request.virtual) {
        return this.rpcError(res, 404, RpcCode.ConnectionClosed, 'Session not found: initialize a new session');
      }
      session.lastSeen = Date.now();
      this.touch(session);
      // The client answers what another replica asked (it adopted the session): handed to it.
      const answers = req.method === 'POST' && !session.relay.waiting && this.answers.shared ? responsesIn(body) : undefined;
      if (answers) {
        await this.answers.publish(session.id, answers);
        res.writeHead(202).end();
        return;
      }
    }
    // A peer's requests take the SDK path: what upstreams ask of it needs the request's SSE stream.
    if (req.method === 'POST' && (session || this.settings.stateless) && !session?.relay.peer) {
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
    const created = await this.createSession(principal, request.virtual);
    await created.transport.handleRequest(req, res, body);
    // An initialize the transport refused leaves no session behind to count against the caps.
    if (created.transport.sessionId === undefined) {
      this.forget(created.id);
      void created.transport.close().catch(() => undefined);
      return;
    }
    const record = { id: created.id, token: principal.name, virtual: request.virtual ?? null, initialize: body.params as Record<string, unknown> };
    await this.store.save(record, this.settings.sessionIdleMs).catch((error: unknown) => {
      this.logger.warn(
        { session: created.id, reason: error instanceof Error ? error.message : String(error) },
        'MCP session not shared: other replicas will not know it',
      );
    });
  }

  /** Answers another replica received, for a request of a session waiting here. */
  private deliverAnswers(id: string, messages: JSONRPCMessage[]): void {
    const session = this.sessions.get(id);
    if (session?.relay.waiting) {
      for (const message of messages) session.transport.onmessage?.(message);
      return;
    }
    this.adopted.deliver(id, messages);
  }

  /** Keeps the shared record of a session in use alive (at most every third of the idle time). */
  private touch(session: DownstreamSession): void {
    const now = Date.now();
    if (now - session.touched < this.settings.sessionIdleMs / 3) return;
    session.touched = now;
    void this.store.touch(session.id, this.settings.sessionIdleMs).catch(() => undefined);
  }

  /** Another replica serving the session next filters its notifications the same way. */
  private shareState(id: string, relay: SessionRelay): void {
    void this.store.saveState(id, relay.state, this.settings.sessionIdleMs).catch((error: unknown) => {
      this.logger.warn({ session: id, reason: error instanceof Error ? error.message : String(error) }, 'MCP session state not shared');
    });
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
    const view = this.viewOf(request.virtual);
    if (method === 'tools/list') return answer({ jsonrpc: '2.0', id, result: { tools: this.calls.visibleTools(principal, view) } });
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
    if (req.headers.authorization !== undefined) options.authorization = req.headers.authorization;
    return this.calls.call(p.name, args as Record<string, unknown> | undefined, principal, options, view).then(
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
    const server = this.servers.create({ principal, sessionId: undefined, virtual: request.virtual });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  private async createSession(principal: Principal, virtual: string | undefined): Promise<DownstreamSession> {
    const id = randomUUID();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      enableJsonResponse: this.settings.jsonResponse,
      onsessioninitialized: () => undefined,
      eventStore: this.events.forSession(id),
      ...(this.settings.ssePollMs > 0 ? { retryInterval: this.settings.ssePollMs } : {}),
    });
    const { server, relay } = this.servers.createSession({ principal, sessionId: id, virtual });
    relay.onStateChange = () => this.shareState(id, relay);
    const now = Date.now();
    const session: DownstreamSession = { id, transport, server, principal, virtual, lastSeen: now, touched: now, fastCalls: new Map(), relay };
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
    // Ended by the client (DELETE): no replica may serve it any more.
    if (!session.localOnly) void this.store.remove(id).catch(() => undefined);
    // Shared events outlive this replica's copy (they expire with the record); local ones go with it.
    if (!session.localOnly || !this.events.shared) void this.events.remove(id).catch(() => undefined);
    for (const upstream of this.manager.list()) {
      upstream.release(id);
      for (const uri of session.relay.subscriptions) {
        if (this.subscriptions.remove(upstream.id, uri, id)) void upstream.relay('resources/unsubscribe', { uri }).catch(() => undefined);
      }
    }
  }

  /** The view a virtual server serves (empty while its connector is gone, never `/mcp`'s), or undefined for `/mcp`. */
  private viewOf(virtual: string | undefined): CatalogView | undefined {
    if (virtual === undefined) return undefined;
    return this.manager.view(virtual) ?? EMPTY_VIEW;
  }

  private unknownVirtual(configId: string): PatchbayError {
    this.calls.assertSynced(`virtual MCP server '${configId}'`);
    return PatchbayError.notFound(`virtual MCP server '${configId.slice(0, 80)}' (an agent_tool connector with options.transport 'virtual')`);
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

  /** A peer's own catalog of a server changed: its view is listed again. */
  private peerListChanged(session: DownstreamSession): void {
    session.relay.view = undefined;
    void session.server.sendToolListChanged().catch(() => undefined);
    void session.server.sendPromptListChanged().catch(() => undefined);
    void session.server.sendResourceListChanged().catch(() => undefined);
  }

  /** A log message or resource update on a shared upstream session, to the sessions that asked for it. */
  private fanOut(serverId: string, notification: UpstreamNotification): void {
    const server = this.manager.get(serverId);
    if (!server) return;
    if (notification.method === 'notifications/resources/updated') {
      const uri = notification.params['uri'];
      if (typeof uri !== 'string') return;
      for (const key of this.subscriptions.subscribers(serverId, uri)) this.sessions.get(key)?.relay.deliver(serverId, notification);
      for (const { relay } of this.adopted.running()) relay.deliver(serverId, notification);
      return;
    }
    // Adopted sessions hear them while a request of theirs runs here (their stream is that request's).
    for (const { relay, principal } of this.adopted.running()) {
      if (!relay.peer && mayUseConnector(principal, server.spec.configId)) relay.deliver(serverId, notification);
    }
    for (const session of this.sessions.values()) {
      // A peer hears its servers on its own sessions.
      if (session.relay.peer || !mayUseConnector(session.principal, server.spec.configId)) continue;
      session.relay.deliver(serverId, notification);
    }
  }

  private notifyListChanged(view: string | undefined): void {
    for (const session of this.sessions.values()) {
      // Any catalog may change what a peer lists on its own sessions.
      if (session.relay.peer) session.relay.view = undefined;
      if (session.virtual !== view) continue;
      const server = session.server;
      if (!server.getClientCapabilities()) continue;
      void server.sendToolListChanged().catch(() => undefined);
      void server.sendPromptListChanged().catch(() => undefined);
      void server.sendResourceListChanged().catch(() => undefined);
    }
  }

  private sweep(): void {
    const now = Date.now();
    const cutoff = now - this.settings.sessionIdleMs;
    this.adopted.sweep(now);
    for (const session of [...this.sessions.values()]) {
      if (session.lastSeen < cutoff) {
        this.logger.info({ session: session.id }, 'closing idle MCP session');
        // Idle here; another replica may be serving it (its shared record expires on its own).
        session.localOnly = true;
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
