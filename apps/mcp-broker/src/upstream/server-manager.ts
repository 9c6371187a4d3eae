import { EventEmitter } from 'node:events';
import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import type { JsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import {
  Channel,
  ConnectionState,
  ErrorCode,
  EventType,
  PatchbayError,
  breakerChangedData,
  createEnvelope,
  type Bus,
  type ConnectionStateData,
  type EnvelopeSource,
  type ResolvedConnector,
} from '@patchbay/core';
import type { Logger } from 'pino';
import { SEPARATOR, namespacedName } from '../mcp/naming';
import { specsFromConnector, type ServerSpec, type SpecDefaults, type SpecProblem } from './server-spec';
import type { ServerStatus } from './server-history';
import { UpstreamServer, type UpstreamSettings } from './upstream-server';

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

export interface ManagerMetrics {
  onState(server: string, from: ConnectionState, to: ConnectionState): void;
}

/** A connector member that could not become a server. */
export interface BrokenServer extends SpecProblem {
  state: 'invalid';
}

/**
 * Owns every upstream server: applies connector changes live (add, remove, swap), keeps
 * the aggregated catalog and publishes state and breaker changes on the bus.
 */
export class ServerManager extends EventEmitter<ServerManagerEvents> {
  private readonly servers = new Map<string, UpstreamServer>();
  /** Replacements connecting in the background while the old server keeps serving. */
  private readonly pending = new Map<string, UpstreamServer>();
  private readonly byConnector = new Map<string, Set<string>>();
  private readonly problems = new Map<string, SpecProblem[]>();
  private aggregated: AggregatedCatalog = emptyAggregate();
  private signature = '';
  private readonly validators = new AjvJsonSchemaValidator();
  private rebuildScheduled = false;
  /** State metrics, attached once the app's meter exists. */
  metrics: ManagerMetrics | undefined;
  private closed = false;

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
    const broken = [...this.problems.values()].flat().map((p): BrokenServer => ({ ...p, state: 'invalid' }));
    return [...this.list().map((s) => s.status()), ...broken];
  }

  /** Applies a connector upsert: new servers connect, changed ones are swapped, gone ones close. */
  upsert(connector: ResolvedConnector): void {
    if (this.closed) return;
    const { specs, problems } = specsFromConnector(connector, this.options.defaults);
    this.problems.set(connector.configId, problems);
    for (const problem of problems) this.options.logger.warn({ server: problem.id, reason: problem.message }, 'MCP server not started');
    const previous = this.byConnector.get(connector.configId) ?? new Set<string>();
    const next = new Set<string>();
    for (const spec of specs) {
      const owner = this.ownerOf(spec.id);
      if (owner !== undefined && owner !== connector.configId) {
        this.problems.get(connector.configId)?.push({ id: spec.id, configId: connector.configId, message: `server id '${spec.id}' is already used by connector '${owner}'` });
        continue;
      }
      next.add(spec.id);
      this.place(spec);
    }
    for (const id of previous) if (!next.has(id)) void this.removeServer(id);
    this.byConnector.set(connector.configId, next);
    this.scheduleRebuild();
  }

  /** Applies a connector delete. */
  delete(configId: string): void {
    for (const id of this.byConnector.get(configId) ?? []) void this.removeServer(id);
    this.byConnector.delete(configId);
    this.problems.delete(configId);
    this.scheduleRebuild();
  }

  /** Restarts one server (revives a dead one). */
  async restart(id: string): Promise<ServerStatus> {
    const server = this.servers.get(id);
    if (!server) throw PatchbayError.notFound(`MCP server '${id}'`);
    await server.restart();
    return server.status();
  }

  /** Closes every server (stdio process groups included). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.servers.values(), ...this.pending.values()];
    this.servers.clear();
    this.pending.clear();
    await Promise.all(all.map((s) => s.close()));
  }

  private ownerOf(id: string): string | undefined {
    for (const [configId, ids] of this.byConnector) if (ids.has(id)) return configId;
    return undefined;
  }

  private place(spec: ServerSpec): void {
    const existing = this.servers.get(spec.id);
    if (existing && existing.spec.fingerprint === spec.fingerprint && !this.pending.has(spec.id)) {
      // Same material, newer revision: a dead server gets another chance.
      if (existing.state === ConnectionState.DEAD) void existing.restart('connector changed');
      return;
    }
    const server = this.createServer(spec);
    if (!existing || existing.state !== ConnectionState.ACTIVE) {
      this.servers.set(spec.id, server);
      if (existing) void this.retire(existing);
      server.start();
      return;
    }
    // Swap: the old server serves until the new one is up (or has given up).
    const superseded = this.pending.get(spec.id);
    if (superseded) void superseded.close();
    this.pending.set(spec.id, server);
    server.start();
    void server.settled().then(() => {
      if (this.pending.get(spec.id) !== server) return;
      this.pending.delete(spec.id);
      const old = this.servers.get(spec.id);
      this.servers.set(spec.id, server);
      if (old && old !== server) void this.retire(old);
      this.scheduleRebuild();
    });
  }

  private createServer(spec: ServerSpec): UpstreamServer {
    const server = new UpstreamServer(spec, this.options.settings);
    const { bus, source, logger } = this.options;
    server.on('state', (change) => {
      if (this.servers.get(spec.id) === server || this.pending.get(spec.id) === server) {
        const data: ConnectionStateData = { kind: 'mcp-server', name: spec.id, from: change.from, to: change.to };
        if (change.reason !== undefined) data.reason = change.reason.slice(0, 500);
        void bus.publish(Channel.STATE, createEnvelope(EventType.CONNECTION_STATE, data, { source })).catch(() => undefined);
        this.metrics?.onState(spec.id, change.from, change.to);
      }
      const level = change.to === ConnectionState.DEAD || change.to === ConnectionState.RETRYING ? 'warn' : 'info';
      logger[level]({ server: spec.id, from: change.from, to: change.to, reason: change.reason }, 'MCP server state');
      this.scheduleRebuild();
    });
    server.on('breaker', (change) => {
      const data = breakerChangedData(server.breaker, change);
      void bus.publish(Channel.STATE, createEnvelope(EventType.BREAKER_CHANGED, data, { source })).catch(() => undefined);
      logger.warn({ server: spec.id, from: change.from, to: change.to }, 'MCP server breaker');
    });
    server.on('catalog', () => this.scheduleRebuild());
    return server;
  }

  private async retire(server: UpstreamServer): Promise<void> {
    await server.close().catch((error: unknown) => this.options.logger.warn({ err: error, server: server.id }, 'closing MCP server failed'));
  }

  private async removeServer(id: string): Promise<void> {
    const server = this.servers.get(id);
    const pending = this.pending.get(id);
    this.servers.delete(id);
    this.pending.delete(id);
    this.scheduleRebuild();
    await Promise.all([server && this.retire(server), pending && this.retire(pending)]);
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
      if (server.state !== ConnectionState.ACTIVE) continue;
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
      return this.validators.getValidator(tool.inputSchema as Parameters<AjvJsonSchemaValidator['getValidator']>[0]);
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
