import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  getLiteralValue,
  getObjectShape,
  getParseErrorMessage,
  safeParse,
  type AnyObjectSchema,
  type SchemaOutput,
} from '@modelcontextprotocol/sdk/server/zod-compat.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  ErrorCode as RpcCode,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type LoggingLevel,
  type ServerNotification,
  type ServerRequest,
  type ServerResult,
} from '@modelcontextprotocol/sdk/types.js';
import { mayUseConnector, type Principal } from '@patchbay/nest';
import { emptyView, type CatalogView } from '../curation/catalog-view';
import type { DownstreamPeer } from '../upstream/peer-sessions';
import type { ServerManager } from '../upstream/server-manager';
import type { CallOptions } from '../upstream/upstream-handle';
import type { UpstreamServer } from '../upstream/upstream-server';
import { RpcError, toRpcError } from './rpc-errors';
import { SessionRelay, lowestLevel } from './session-relay';
import type { ToolCalls } from './tool-calls';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const EMPTY_VIEW = emptyView();
export const SERVER_INFO = { name: 'patchbay-mcp-broker', version: '0.1.0' };
/** What `/mcp` and virtual servers offer (2025 sessions; 2026-07-28 requests get the stateless subset). */
const SERVER_CAPABILITIES = {
  tools: { listChanged: true },
  resources: { listChanged: true, subscribe: true },
  prompts: { listChanged: true },
  logging: {},
  completions: {},
};
const INSTRUCTIONS =
  'Tools, prompts and resources of every connected MCP server, named <serverId>__<name>. ' + 'Call patchbay__servers to see the servers and their state.';
/** Resources pass through unchanged: the downstream client validates them, not us. */
type Passthrough<K extends string> = Record<K, []>;

/** Who a session's server is for. */
export interface SessionContext {
  principal: Principal;
  /** The downstream session's id (undefined when stateless). */
  sessionId: string | undefined;
  /** The virtual server addressed, undefined for `/mcp`. */
  virtual: string | undefined;
}

/** Who a request is answered for: a 2025 session's (or stateless request's) server, or one 2026-07-28 request. */
export interface ServedContext extends SessionContext {
  /** What the session receives beside answers (undefined when stateless and for 2026-07-28 requests). */
  relay: SessionRelay | undefined;
  /** A 2026-07-28 client that declared what the broker relays: a peer for its request's length. */
  peer?: DownstreamPeer;
  /** That peer's own view, listed once for the request. */
  peerView?: Promise<CatalogView>;
}

/**
 * What a handler may use of the request beside its params. The SDK gives it to 2025
 * sessions' servers; the 2026-07-28 pipeline makes it from the HTTP exchange itself.
 */
export interface RequestScope {
  signal: AbortSignal;
  /** The caller's own `Authorization` header (calls served by another Patchbay service run as the caller). */
  authorization: string | undefined;
  /** Sends a notification (progress) on the request's answer stream. */
  notify(notification: ServerNotification): Promise<void>;
  /** Marks the request running on its session's relay until the returned function is called. */
  track?(): () => void;
}

/** One MCP method, declared once: registered on 2025 sessions' SDK servers, dispatched directly for 2026-07-28. */
interface Declared {
  register(server: Server, context: ServedContext): void;
  run(request: { method: string; params: Record<string, unknown> }, context: ServedContext, scope: RequestScope): Promise<ServerResult>;
}

function scopeOf(extra: Extra, relay: SessionRelay | undefined, ssePollMs: number): RequestScope {
  const authorization = extra.requestInfo?.headers.authorization;
  const track = relay ? (): (() => void) => relay.track(extra) : undefined;
  return {
    signal: extra.signal,
    authorization: typeof authorization === 'string' ? authorization : undefined,
    notify: (notification) => extra.sendNotification(notification),
    ...(track ? { track: ssePollMs > 0 ? () => pollAfter(ssePollMs, extra, track()) : track } : {}),
  };
}

/**
 * SSE polling (SEP-1699): a request still running after `ms` has its SSE stream closed; the
 * client (told `retry:` in the priming event) resumes with `Last-Event-ID` and gets what was
 * sent meanwhile, its answer included. The SDK offers the close only to streams that were primed.
 */
function pollAfter(ms: number, extra: Extra, untrack: () => void): () => void {
  const close = extra.closeSSEStream;
  const timer = close ? setTimeout(close, ms) : undefined;
  timer?.unref();
  return () => {
    if (timer) clearTimeout(timer);
    untrack();
  };
}

/**
 * Subscriptions made on shared upstream sessions, by server and uri: the upstream is
 * subscribed once, for as long as any downstream session wants its updates.
 */
export class SharedSubscriptions {
  private readonly byResource = new Map<string, Set<string>>();

  /** True when `key` is the first subscriber (subscribe upstream). */
  add(serverId: string, uri: string, key: string): boolean {
    const id = `${serverId}\n${uri}`;
    let keys = this.byResource.get(id);
    const first = !keys;
    if (!keys) this.byResource.set(id, (keys = new Set()));
    keys.add(key);
    return first;
  }

  /** True when `key` was the last subscriber (unsubscribe upstream). */
  remove(serverId: string, uri: string, key: string): boolean {
    const id = `${serverId}\n${uri}`;
    const keys = this.byResource.get(id);
    if (!keys?.delete(key)) return false;
    if (keys.size > 0) return false;
    this.byResource.delete(id);
    return true;
  }

  subscribers(serverId: string, uri: string): ReadonlySet<string> {
    return this.byResource.get(`${serverId}\n${uri}`) ?? new Set();
  }
}

/**
 * Builds the MCP server of one downstream session (or stateless request) over the broker's
 * views: tools, prompts, resources, completion, subscriptions and logging, each routed to
 * the owning upstream under the caller's token and, for a peer client, on its own upstream
 * sessions.
 */
export class SessionServers {
  /** Every method a session's server answers, by name. */
  private readonly methods = new Map<string, Declared>();

  constructor(
    private readonly manager: ServerManager,
    private readonly calls: ToolCalls,
    private readonly subscriptions: SharedSubscriptions,
    /** Levels every open session asked for: shared upstream sessions log at the lowest. */
    private readonly levels: () => Iterable<LoggingLevel | undefined>,
    private readonly settings: { ssePollMs: number } = { ssePollMs: 0 },
  ) {
    this.declareAll();
  }

  /** The server of a stateless request (no relay: nothing reaches it after its answer). */
  create(context: SessionContext): Server {
    return this.build(context, undefined).server;
  }

  /** The server of a downstream session, with the relay of what upstreams send it. */
  createSession(context: SessionContext & { sessionId: string }): { server: Server; relay: SessionRelay } {
    const { server, relay } = this.build(context, context.sessionId);
    return { server, relay: relay as SessionRelay };
  }

  /**
   * Answers one request with the handler a session's server would use, without a server:
   * the 2026-07-28 pipeline (stateless, so nothing of a session is needed). Its params are
   * checked against the method's schema as the SDK checks them.
   * @throws RpcError -32602 when they do not fit, or what the handler throws (in JSON-RPC shape).
   */
  dispatch(request: { method: string; params: Record<string, unknown> }, context: ServedContext, scope: RequestScope): Promise<ServerResult> {
    const declared = this.methods.get(request.method);
    if (!declared) return Promise.reject(new RpcError(RpcCode.MethodNotFound, `Method not found: ${request.method.slice(0, 100)}`));
    return declared.run(request, context, scope);
  }

  private build(base: SessionContext, relayKey: string | undefined): { server: Server; relay: SessionRelay | undefined } {
    const server = new Server(SERVER_INFO, {
      capabilities: SERVER_CAPABILITIES,
      instructions: instructionsFor(base.virtual),
    });
    const relay = relayKey === undefined ? undefined : new SessionRelay(relayKey, server);
    const context: ServedContext = { ...base, relay };
    for (const declared of this.methods.values()) declared.register(server, context);
    return { server, relay };
  }

  private on<S extends AnyObjectSchema>(
    schema: S,
    handle: (request: SchemaOutput<S>, context: ServedContext, scope: RequestScope) => Promise<ServerResult>,
  ): void {
    const literal = getObjectShape(schema)?.['method'];
    const method = literal ? getLiteralValue(literal) : undefined;
    if (typeof method !== 'string') throw new Error('a request schema names its method');
    this.methods.set(method, {
      register: (server, context) =>
        server.setRequestHandler(schema, (request, extra) => handle(request, context, scopeOf(extra, context.relay, this.settings.ssePollMs))),
      run: async (request, context, scope) => {
        const parsed = safeParse(schema, request);
        if (!parsed.success) throw new RpcError(RpcCode.InvalidParams, `Invalid params of ${method}: ${getParseErrorMessage(parsed.error).slice(0, 500)}`);
        return handle(parsed.data, context, scope);
      },
    });
  }

  private declareAll(): void {
    this.on(ListToolsRequestSchema, async (_request, context) => ({ tools: this.calls.visibleTools(context.principal, await this.served(context)) }));
    this.on(CallToolRequestSchema, (request, context, scope) =>
      this.relayed(context, scope, request.params._meta?.progressToken, async (options) => {
        const result = await this.calls.call(request.params.name, request.params.arguments, context.principal, options, await this.served(context));
        return result as Passthrough<'content'>;
      }),
    );
    this.on(ListPromptsRequestSchema, async (_request, context) => {
      const c = await this.served(context);
      return { prompts: c.prompts.filter((p) => this.mayUse(context.principal, c.promptRoutes.get(p.name)?.server)) };
    });
    this.on(GetPromptRequestSchema, async (request, context, scope) => {
      const route = (await this.served(context)).promptRoutes.get(request.params.name);
      if (!route || !this.mayUse(context.principal, route.server)) throw new RpcError(RpcCode.InvalidParams, `unknown prompt '${request.params.name}'`);
      return this.relayed(context, scope, request.params._meta?.progressToken, async (options) => {
        return (await route.server.getPrompt(route.upstreamName, request.params.arguments, options)) as Passthrough<'messages'>;
      });
    });
    this.on(ListResourcesRequestSchema, async (_request, context) => {
      const c = await this.served(context);
      return { resources: c.resources.filter((r) => this.mayUse(context.principal, c.resourceOwners.get(r.uri))) };
    });
    this.on(ListResourceTemplatesRequestSchema, async (_request, context) => {
      const c = await this.served(context);
      return { resourceTemplates: c.resourceTemplates.filter((t) => this.mayUse(context.principal, c.templateServers.get(t))) };
    });
    this.on(ReadResourceRequestSchema, async (request, context, scope) => {
      const owner = this.resourceOwner(await this.served(context), request.params.uri, context.principal);
      return this.relayed(context, scope, undefined, async (options) => {
        return (await owner.readResource(request.params.uri, options)) as Passthrough<'contents'>;
      });
    });
    this.on(CompleteRequestSchema, async (request, context, scope) => {
      const { principal } = context;
      const { ref, ...rest } = request.params;
      const view = await this.served(context);
      let owner: UpstreamServer;
      let upstreamRef: Record<string, unknown>;
      if (ref.type === 'ref/prompt') {
        const route = view.promptRoutes.get(ref.name);
        if (!route || !this.mayUse(principal, route.server)) throw new RpcError(RpcCode.InvalidParams, `unknown prompt '${ref.name.slice(0, 200)}'`);
        owner = route.server;
        upstreamRef = { ...ref, name: route.upstreamName };
      } else {
        const template = view.resourceTemplates.find((t) => t.uriTemplate === ref.uri);
        const templateOwner = template ? view.templateServers.get(template) : undefined;
        owner = templateOwner && this.mayUse(principal, templateOwner) ? templateOwner : this.resourceOwner(view, ref.uri, principal);
        upstreamRef = { ...ref };
      }
      return this.relayed(context, scope, undefined, async (options) => {
        return (await owner.relay('completion/complete', { ...rest, ref: upstreamRef }, options)) as { completion: { values: [] } };
      });
    });
    this.on(SubscribeRequestSchema, async (request, context, scope) => {
      const { relay } = context;
      const { uri } = request.params;
      const owner = this.resourceOwner(await this.served(context), uri, context.principal);
      return this.relayed(context, scope, undefined, async (options) => {
        // Peers subscribe on their own sessions; the rest share one upstream subscription per resource.
        if (options.peer || !relay || this.subscriptions.add(owner.id, uri, relay.key)) await owner.relay('resources/subscribe', { uri }, options);
        relay?.subscriptions.add(uri);
        relay?.onStateChange?.();
        return {};
      });
    });
    this.on(UnsubscribeRequestSchema, async (request, context, scope) => {
      const { relay } = context;
      const { uri } = request.params;
      const owner = this.resourceOwner(await this.served(context), uri, context.principal);
      relay?.subscriptions.delete(uri);
      relay?.onStateChange?.();
      return this.relayed(context, scope, undefined, async (options) => {
        if (options.peer || !relay || this.subscriptions.remove(owner.id, uri, relay.key)) await owner.relay('resources/unsubscribe', { uri }, options);
        return {};
      });
    });
    this.on(SetLevelRequestSchema, async (request, context) => {
      const { relay } = context;
      const { level } = request.params;
      if (relay) {
        relay.logLevel = level;
        relay.onStateChange?.();
      }
      const peer = relay?.peer;
      const shared = lowestLevel(this.levels()) ?? level;
      await Promise.all([
        this.manager.setLogLevel(shared),
        ...(peer ? this.manager.list().map((s) => s.setPeerLogLevel(peer.key, level).catch(() => undefined)) : []),
      ]);
      return {};
    });
  }

  /**
   * The view a session's requests see: a peer's own (listed on its sessions, kept until a
   * catalog changes), a virtual server's (empty while its connector is gone, never `/mcp`'s),
   * or `/mcp`'s.
   */
  private served(context: ServedContext): Promise<CatalogView> {
    const { relay, virtual, principal } = context;
    const peer = relay?.peer ?? context.peer;
    if (peer) {
      const list = (): Promise<CatalogView> =>
        this.manager.peerView(peer, virtual === undefined ? undefined : this.manager.virtual(virtual), (s) => this.mayUse(principal, s));
      if (relay) return (relay.view ??= list());
      return (context.peerView ??= list());
    }
    if (virtual === undefined) return Promise.resolve(this.manager.catalog);
    return Promise.resolve(this.manager.view(virtual) ?? EMPTY_VIEW);
  }

  /**
   * Runs one upstream request for a downstream one: progress relayed under the caller's own
   * token, a peer's calls on its own sessions (what upstreams ask meanwhile goes out on this
   * request's stream), errors in JSON-RPC shape. Relayed notifications are flushed before
   * the result, which would close the response stream first.
   */
  private async relayed<T>(
    context: ServedContext,
    scope: RequestScope,
    progressToken: string | number | undefined,
    run: (options: CallOptions) => Promise<T>,
  ): Promise<T> {
    let pending: Promise<void> = Promise.resolve();
    const options: CallOptions = { signal: scope.signal };
    if (context.sessionId !== undefined) options.sessionKey = context.sessionId;
    const peer = context.relay?.peer ?? context.peer;
    if (peer) options.peer = peer;
    if (scope.authorization !== undefined) options.authorization = scope.authorization;
    if (progressToken !== undefined) {
      options.onProgress = (p) => {
        const sent = scope.notify({ method: 'notifications/progress', params: { ...p, progressToken } }).catch(() => undefined);
        pending = Promise.all([pending, sent]).then(() => undefined);
      };
    }
    const untrack = scope.track?.();
    try {
      return await run(options);
    } catch (error) {
      throw toRpcError(error);
    } finally {
      untrack?.();
      await pending;
    }
  }

  /**
   * The server a request about `uri` goes to, among those the view serves and the principal may use.
   * @throws RpcError -32602 when there is none.
   */
  private resourceOwner(catalog: CatalogView, uri: string, principal: Principal): UpstreamServer {
    const exact = catalog.resourceOwners.get(uri);
    const owner = exact
      ? this.mayUse(principal, exact)
        ? exact
        : undefined
      : catalog.templateOwners.find(([prefix, server]) => prefix.length > 0 && uri.startsWith(prefix) && this.mayUse(principal, server))?.[1];
    if (!owner) throw new RpcError(RpcCode.InvalidParams, `unknown resource '${uri.slice(0, 200)}'`);
    return owner;
  }

  private mayUse(principal: Principal, server: UpstreamServer | undefined): server is UpstreamServer {
    return server !== undefined && mayUseConnector(principal, server.spec.configId);
  }
}

/** The instructions `/mcp` (virtual undefined) or a virtual server gives its clients. */
export function instructionsFor(virtual: string | undefined): string {
  if (virtual === undefined) return INSTRUCTIONS;
  return virtualInstructions(virtual);
}

function virtualInstructions(configId: string): string {
  return `Virtual MCP server '${configId}' of the Patchbay mcp-broker: a curated selection of tools, prompts and resources of its connected servers.`;
}
