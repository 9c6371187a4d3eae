import { EventEmitter } from 'node:events';
import type { LoggingLevel, Tool } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import type { JsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import { ConnectionState, ErrorCode, PatchbayError, type Bus, type EnvelopeSource, type ResolvedConnector } from '@patchbay/core';
import { Broker, type ConnectorSource, type ReadinessService } from '@patchbay/nest';
import type { Logger } from 'pino';
import { buildView, emptyView, type CatalogView, type ToolSource, type ViewOptions } from '../curation/catalog-view';
import type { VirtualSpec } from '../curation/virtual-spec';
import { SEPARATOR } from '../mcp/naming';
import { AgentToolDriver, type UpstreamSettings } from './agent-tool-driver';
import { ServerHistory, type ServerStatus } from './server-history';
import { ServerPlanner } from './server-planner';
import type { ServerSpec, SpecDefaults, SpecProblem } from './server-spec';
import type { Catalog } from './catalog';
import type { DownstreamPeer, UpstreamNotification } from './peer-sessions';
import type { UpstreamHandle } from './upstream-handle';
import { UpstreamServer } from './upstream-server';

export interface ServerManagerEvents {
  /** What a view lists changed (names or definitions): `/mcp`'s (undefined) or a virtual server's (its configId). */
  catalog: [view: string | undefined];
  /** A log message or resource update an upstream sent on a shared session. */
  notification: [serverId: string, notification: UpstreamNotification];
  /** What a server offers one downstream peer (its own session) changed. */
  peerCatalog: [serverId: string, key: string];
}

/** A connector member that could not become a server. */
export interface BrokenServer extends SpecProblem {
  state: 'invalid';
}

/**
 * The upstream servers of this broker: the broker runtime follows the `agent_tool`
 * connectors and owns each server's connection (lifecycle, breaker, swap, bus events);
 * this class keeps the aggregated catalog (names `<serverId>__<tool>`) and the status
 * history `/v1/servers` shows.
 */
export class ServerManager extends EventEmitter<ServerManagerEvents> {
  readonly broker: Broker<ServerSpec, UpstreamHandle>;
  private readonly driver: AgentToolDriver;
  private readonly planner: ServerPlanner;
  private readonly servers = new Map<string, UpstreamServer>();
  private readonly histories = new Map<string, ServerHistory>();
  private aggregated: CatalogView = emptyView();
  private virtualViews = new Map<string, CatalogView>();
  private readonly validators = new AjvJsonSchemaValidator();
  /** Per tool definition as listed (a re-listing brings new objects): compiled once, shared by every view. */
  private readonly compiled = new WeakMap<Tool, JsonSchemaValidator<unknown> | undefined>();
  private rebuildScheduled = false;
  private logLevel: LoggingLevel | undefined;
  private toolSources: () => readonly ToolSource[] = () => [];

  constructor(
    private readonly options: {
      settings: UpstreamSettings;
      defaults: SpecDefaults;
      bus: Bus;
      source: EnvelopeSource;
      logger: Logger;
    },
  ) {
    super();
    this.planner = new ServerPlanner(options.defaults);
    this.driver = new AgentToolDriver(options.settings, this.planner, {
      catalog: () => this.scheduleRebuild(),
      lost: (id, error) => this.servers.get(id)?.connection.reportError(error),
      notification: (id, notification) => this.emit('notification', id, notification),
      peerCatalog: (id, key) => this.emit('peerCatalog', id, key),
      logLevel: () => this.logLevel,
    });
    this.broker = new Broker({ driver: this.driver, bus: options.bus, logger: options.logger, source: options.source, noun: 'MCP server' });
    this.broker.on('added', (connection) => {
      this.servers.set(connection.id, new UpstreamServer(connection, this.driver));
      this.histories.set(connection.id, new ServerHistory());
    });
    this.broker.on('removed', (connection) => {
      this.servers.delete(connection.id);
      this.histories.delete(connection.id);
      this.scheduleRebuild();
    });
    this.broker.on('state', (connection, change) => {
      const history = this.histories.get(connection.id);
      history?.record(change);
      // A lost connection reconnecting counts as a restart, as an admin restart does.
      if (history && change.from === ConnectionState.ACTIVE && change.to === ConnectionState.RETRYING) history.restarts++;
      this.scheduleRebuild();
    });
  }

  get catalog(): CatalogView {
    return this.aggregated;
  }

  /** The view a virtual server serves, or undefined when `configId` declares none. */
  view(configId: string): CatalogView | undefined {
    return this.virtualViews.get(configId);
  }

  /**
   * Sets the level shared upstream sessions log at (the lowest any downstream client asked
   * for: each client's own level is applied when relaying), now and on every new session.
   */
  async setLogLevel(level: LoggingLevel): Promise<void> {
    this.logLevel = level;
    await Promise.all(
      this.list().map(
        (s) =>
          this.driver
            .current(s.id)
            ?.setLogLevel(level)
            .catch(() => undefined) ?? Promise.resolve(),
      ),
    );
  }

  /**
   * The view a downstream peer gets of `/mcp` or a virtual server: built from its own
   * sessions' catalogs (opened here if needed) of the servers in service it may use, since
   * servers list some tools only to clients that can sample, elicit or list roots.
   * A server whose peer session cannot open is shown as everyone sees it.
   */
  async peerView(peer: DownstreamPeer, virtual: VirtualSpec | undefined, mayUse: (server: UpstreamServer) => boolean): Promise<CatalogView> {
    const servers = this.serving().filter(mayUse);
    const catalogs = new Map<UpstreamServer, Catalog>();
    await Promise.all(servers.map(async (s) => catalogs.set(s, await s.peerCatalog(peer).catch(() => s.catalog))));
    const options: ViewOptions = {
      validatorFor: (tool) => this.validatorFor(tool),
      catalogOf: (s) => catalogs.get(s) ?? s.catalog,
      toolSources: this.toolSources(),
    };
    if (virtual) return buildView(servers, { ...options, select: virtual.selects, stripPrefix: virtual.stripPrefix });
    return buildView(servers, { ...options, management: true });
  }

  /**
   * Serves `sources()` (tools the broker answers itself: databases) in every view beside
   * the upstreams'; call the returned function whenever they change, to rebuild the views
   * and send `list_changed`.
   */
  serveAlso(sources: () => readonly ToolSource[]): () => void {
    this.toolSources = sources;
    this.scheduleRebuild();
    return () => this.scheduleRebuild();
  }

  /** The virtual server a connector declares, if any. */
  virtual(configId: string): VirtualSpec | undefined {
    return this.planner.virtual(configId);
  }

  get(id: string): UpstreamServer | undefined {
    return this.servers.get(id);
  }

  /** The server whose `<id>__` prefixes an aggregated name (the longest such id), if any. */
  serverForName(name: string): UpstreamServer | undefined {
    let found: UpstreamServer | undefined;
    for (const server of this.servers.values()) {
      if (name.startsWith(`${server.id}${SEPARATOR}`) && (!found || server.id.length > found.id.length)) found = server;
    }
    return found;
  }

  list(): UpstreamServer[] {
    return [...this.servers.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Status of every server plus connector members that could not be parsed. */
  statuses(): (ServerStatus | BrokenServer)[] {
    const broken = this.planner.allProblems().map((p): BrokenServer => ({ ...p, state: 'invalid' }));
    return [...this.list().map((s) => this.statusOf(s)), ...broken];
  }

  /** Follows the registry (never waits for it). */
  follow(source: ConnectorSource): void {
    source.on('delete', (configId) => this.planner.forget(configId));
    // Virtual servers plan no connection, so no connection event would rebuild their views.
    source.on('upsert', () => this.scheduleRebuild());
    source.on('delete', () => this.scheduleRebuild());
    this.broker.follow(source);
    this.scheduleRebuild();
  }

  /** `registry` (connectors loaded) and `servers` (a summary; some down still serves the others). */
  registerReadiness(readiness: ReadinessService): void {
    this.broker.registerReadiness(readiness, 'servers');
  }

  /** Applies a connector upsert: new servers connect, changed ones are swapped, gone ones close. */
  upsert(connector: ResolvedConnector): void {
    this.broker.apply(connector);
    for (const problem of this.planner.problemsOf(connector.configId)) {
      this.options.logger.warn({ server: problem.id, reason: problem.message }, 'MCP server not started');
    }
    this.scheduleRebuild();
  }

  /** Applies a connector delete. */
  delete(configId: string): void {
    this.planner.forget(configId);
    void this.broker.remove(configId);
    this.scheduleRebuild();
  }

  /** Restarts one server (revives a dead one); what its breaker counted goes with the old sessions. */
  restart(id: string): ServerStatus {
    const server = this.servers.get(id);
    if (!server) throw PatchbayError.notFound(`MCP server '${id}'`);
    const history = this.histories.get(id);
    if (history) history.restarts++;
    server.connection.controlBreaker('reset');
    server.connection.restart('restart requested');
    return this.statusOf(server);
  }

  /** Closes every server (stdio process groups included). */
  async close(): Promise<void> {
    await this.broker.close(this.options.settings.drainTimeoutMs);
  }

  private statusOf(server: UpstreamServer): ServerStatus {
    const { lastError, previousError, ...base } = server.connection.status();
    const history = this.histories.get(server.id) ?? new ServerHistory();
    return {
      ...base,
      ...this.driver.describeHandle(this.driver.current(server.id), server.spec),
      // The latest error stays visible after recovery: it tells why the last restart happened.
      lastError: (lastError ?? previousError)?.message ?? null,
      previousError,
      restarts: history.restarts,
      since: history.since.toISOString(),
      transitions: history.transitions,
    };
  }

  /** Coalesces bursts of state/catalog events into one rebuild. */
  private scheduleRebuild(): void {
    if (this.rebuildScheduled) return;
    this.rebuildScheduled = true;
    queueMicrotask(() => {
      this.rebuildScheduled = false;
      this.rebuild();
    });
  }

  private rebuild(): void {
    const serving = this.serving();
    const validatorFor = (tool: Tool): JsonSchemaValidator<unknown> | undefined => this.validatorFor(tool);
    const toolSources = this.toolSources();
    const previous = this.aggregated;
    this.aggregated = buildView(serving, { validatorFor, management: true, toolSources });
    const before = this.virtualViews;
    this.virtualViews = new Map(
      this.planner.allVirtuals().map((v) => [v.configId, buildView(serving, { select: v.selects, stripPrefix: v.stripPrefix, validatorFor, toolSources })]),
    );
    if (this.aggregated.signature !== previous.signature) this.emit('catalog', undefined);
    for (const [configId, view] of this.virtualViews) if (before.get(configId)?.signature !== view.signature) this.emit('catalog', configId);
  }

  /** Servers whose tools are served: a server being swapped or restarted keeps serving on the old handle meanwhile. */
  private serving(): UpstreamServer[] {
    return this.list().filter((s) => s.state === ConnectionState.ACTIVE || s.state === ConnectionState.CONNECTING);
  }

  private validatorFor(tool: Tool): JsonSchemaValidator<unknown> | undefined {
    if (this.compiled.has(tool)) return this.compiled.get(tool);
    let validator: JsonSchemaValidator<unknown> | undefined;
    try {
      validator = this.validators.getValidator(tool.inputSchema);
    } catch {
      // A schema ajv cannot compile is the upstream's business: let the upstream validate.
      validator = undefined;
    }
    this.compiled.set(tool, validator);
    return validator;
  }
}

/** @throws PatchbayError NOT_FOUND naming the tool. */
export function unknownTool(name: string): PatchbayError {
  return new PatchbayError(ErrorCode.NOT_FOUND, `unknown tool '${name.slice(0, 100)}': list tools to see what is available`, {
    details: { tool: name.slice(0, 100) },
  });
}
