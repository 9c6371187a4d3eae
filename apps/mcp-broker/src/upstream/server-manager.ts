import { EventEmitter } from 'node:events';
import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import type { JsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import { ConnectionState, ErrorCode, PatchbayError, type Bus, type EnvelopeSource, type ResolvedConnector } from '@patchbay/core';
import { Broker, type ConnectorSource, type ReadinessService } from '@patchbay/nest';
import type { Logger } from 'pino';
import { SEPARATOR, namespacedName } from '../mcp/naming';
import { AgentToolDriver, type UpstreamSettings } from './agent-tool-driver';
import { ServerHistory, type ServerStatus } from './server-history';
import { ServerPlanner } from './server-planner';
import type { ServerSpec, SpecDefaults, SpecProblem } from './server-spec';
import type { UpstreamHandle } from './upstream-handle';
import { UpstreamServer } from './upstream-server';

/** One aggregated tool: the exposed definition and where calls go. */
export interface ToolRoute {
  name: string;
  server: UpstreamServer;
  upstreamName: string;
  tool: Tool;
  /** Validates arguments against the tool's input schema before anything is sent. */
  validate: JsonSchemaValidator<unknown> | undefined;
}

export interface PromptRoute {
  name: string;
  server: UpstreamServer;
  upstreamName: string;
  prompt: Prompt;
}

/** The aggregated view over every active server, rebuilt when anything changes. */
export interface AggregatedCatalog {
  tools: Tool[];
  toolRoutes: Map<string, ToolRoute>;
  prompts: Prompt[];
  promptRoutes: Map<string, PromptRoute>;
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
  /** Resource uri -> owning server. */
  resourceOwners: Map<string, UpstreamServer>;
  /** Template prefixes (text before the first `{`) -> owning server. */
  templateOwners: [prefix: string, server: UpstreamServer][];
  /** Each exposed template (of `resourceTemplates`) -> owning server. */
  templateServers: Map<ResourceTemplate, UpstreamServer>;
}

export interface ServerManagerEvents {
  /** The aggregated tools/resources/prompts changed (names or definitions). */
  catalog: [];
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
  private aggregated: AggregatedCatalog = emptyAggregate();
  private signature = '';
  private readonly validators = new AjvJsonSchemaValidator();
  private rebuildScheduled = false;

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

  get catalog(): AggregatedCatalog {
    return this.aggregated;
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
    this.broker.follow(source);
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
    const next = emptyAggregate();
    for (const server of this.list()) {
      // A server being swapped or restarted keeps serving its tools on the old handle meanwhile.
      if (server.state !== ConnectionState.ACTIVE && server.state !== ConnectionState.CONNECTING) continue;
      const { tools, prompts, resources, resourceTemplates } = server.catalog;
      for (const tool of tools) {
        const name = namespacedName(server.id, tool.name);
        if (next.toolRoutes.has(name)) continue;
        const exposed: Tool = { ...tool, name };
        if (tool.title === undefined && name !== tool.name) exposed.title = tool.name;
        next.tools.push(exposed);
        next.toolRoutes.set(name, { name, server, upstreamName: tool.name, tool: exposed, validate: this.validatorFor(tool) });
      }
      for (const prompt of prompts) {
        const name = namespacedName(server.id, prompt.name);
        if (next.promptRoutes.has(name)) continue;
        const exposed: Prompt = { ...prompt, name };
        next.prompts.push(exposed);
        next.promptRoutes.set(name, { name, server, upstreamName: prompt.name, prompt: exposed });
      }
      for (const resource of resources) {
        if (next.resourceOwners.has(resource.uri)) continue;
        next.resourceOwners.set(resource.uri, server);
        next.resources.push({ ...resource, name: namespacedName(server.id, resource.name) });
      }
      for (const template of resourceTemplates) {
        const exposed: ResourceTemplate = { ...template, name: namespacedName(server.id, template.name) };
        next.resourceTemplates.push(exposed);
        next.templateServers.set(exposed, server);
        next.templateOwners.push([template.uriTemplate.split('{')[0] ?? template.uriTemplate, server]);
      }
    }
    next.templateOwners.sort((a, b) => b[0].length - a[0].length);
    this.aggregated = next;
    const signature = JSON.stringify([next.tools, next.prompts, next.resources, next.resourceTemplates]);
    if (signature !== this.signature) {
      this.signature = signature;
      this.emit('catalog');
    }
  }

  private validatorFor(tool: Tool): JsonSchemaValidator<unknown> | undefined {
    try {
      return this.validators.getValidator(tool.inputSchema);
    } catch {
      // A schema ajv cannot compile is the upstream's business: let the upstream validate.
      return undefined;
    }
  }
}

function emptyAggregate(): AggregatedCatalog {
  return {
    tools: [],
    toolRoutes: new Map(),
    prompts: [],
    promptRoutes: new Map(),
    resources: [],
    resourceTemplates: [],
    resourceOwners: new Map(),
    templateOwners: [],
    templateServers: new Map(),
  };
}

/** @throws PatchbayError NOT_FOUND naming the tool. */
export function unknownTool(name: string): PatchbayError {
  return new PatchbayError(ErrorCode.NOT_FOUND, `unknown tool '${name.slice(0, 100)}': list tools to see what is available`, {
    details: { tool: name.slice(0, 100) },
  });
}
