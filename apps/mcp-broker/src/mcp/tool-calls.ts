import { ConnectionState, ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';
import {
  LATENCY_BUCKETS_SECONDS,
  mayUseConnector,
  mayUseTool,
  type ConnectorWatcher,
  type LabeledHistogram,
  type MetricsService,
  type Principal,
} from '@patchbay/nest';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { CatalogView, ToolRoute } from '../curation/catalog-view';
import { unknownTool, type ServerManager } from '../upstream/server-manager';
import { serverUnavailable } from '../upstream/upstream-errors';
import type { CallOptions } from '../upstream/upstream-handle';
import { mayUseServer, visibleStatuses } from './visibility';

type Counter = ReturnType<MetricsService['meter']['createCounter']>;

/** The broker's own tool, answered without any upstream. */
const SERVERS_TOOL: Tool = {
  name: 'patchbay__servers',
  title: 'Patchbay MCP servers',
  description: 'Lists the upstream MCP servers behind this endpoint with their state, breaker, transport, tool count, restarts and last error.',
  inputSchema: { type: 'object', properties: {} },
  annotations: { readOnlyHint: true, openWorldHint: false },
};

/**
 * Routes tool calls to the owning upstream server, for `/mcp`, REST and gRPC alike:
 * checks the caller may use the server's connector, validates arguments against the
 * tool's input schema, and records metrics.
 */
export class ToolCalls {
  private readonly calls: Counter;
  private readonly duration: LabeledHistogram<'server' | 'outcome'>;

  constructor(
    private readonly manager: ServerManager,
    metrics: MetricsService,
    /** The registry watcher: an unknown tool is "not known yet" (503) until it has synced. */
    private readonly registry?: Pick<ConnectorWatcher, 'assertSynced'>,
  ) {
    this.calls = metrics.meter.createCounter('mcp_tool_calls', { description: 'Tool calls by server, tool and outcome' });
    this.duration = metrics.histogram('mcp_tool_call_duration', {
      description: 'Duration of tool calls routed upstream',
      unit: 's',
      buckets: LATENCY_BUCKETS_SECONDS,
      labels: ['server', 'outcome'],
    });
  }

  /**
   * Tools the principal may see in a view (`/mcp`'s by default, with the management tool
   * first): those of servers its connector allow-list names whose qualified names pass
   * its `tools` globs. What it may not call it does not see.
   */
  visibleTools(principal: Principal | undefined, view?: CatalogView): Tool[] {
    const v = view ?? this.manager.catalog;
    const tools = principal?.connectors || principal?.toolFilter ? v.tools.filter((t) => this.mayUse(principal, v.toolRoutes.get(t.name))) : v.tools;
    if (!v.management || (principal && !mayUseTool(principal, SERVERS_TOOL.name))) return tools;
    return [SERVERS_TOOL, ...tools];
  }

  /** @throws PatchbayError (503) before the first registry sync, so "not found" is never said too early. */
  assertSynced(what: string): void {
    this.registry?.assertSynced(what);
  }

  routeOrUndefined(name: string): ToolRoute | undefined {
    return this.manager.catalog.toolRoutes.get(name);
  }

  /**
   * Finds the route of a visible tool.
   * @throws PatchbayError UPSTREAM_UNAVAILABLE when the tool's server is known but not active
   *   (its tools leave the catalog then), NOT_FOUND otherwise (hidden tools included).
   */
  route(name: string, principal: Principal | undefined, view?: CatalogView): ToolRoute {
    const route = (view ?? this.manager.catalog).toolRoutes.get(name);
    if (route && this.mayUse(principal, route)) return route;
    if (!route) this.registry?.assertSynced(`tool '${name.slice(0, 100)}'`);
    // Qualified names only: a virtual server's stripped names say nothing about the server.
    const server = route || !(view ?? this.manager.catalog).management ? undefined : this.manager.serverForName(name);
    if (server && server.state !== ConnectionState.ACTIVE && mayUseServer(principal, server.spec) && (!principal || mayUseTool(principal, name))) {
      throw serverUnavailable(server.id, server.state, name);
    }
    throw unknownTool(name);
  }

  /** Validates and routes one call; resolves with the upstream's MCP result. */
  async call(
    name: string,
    args: Record<string, unknown> | undefined,
    principal: Principal | undefined,
    options: CallOptions = {},
    view?: CatalogView,
  ): Promise<unknown> {
    if ((view ?? this.manager.catalog).management && name === SERVERS_TOOL.name && (!principal || mayUseTool(principal, name))) {
      return this.serversResult(principal);
    }
    const route = this.route(name, principal, view);
    const input = args ?? {};
    if (route.validate) {
      const check = route.validate(input);
      if (!check.valid) {
        throw new PatchbayError(ErrorCode.VALIDATION, `invalid arguments for tool '${name}': ${check.errorMessage}`, {
          details: { tool: name },
        });
      }
    }
    const started = performance.now();
    let outcome = 'ok';
    try {
      const result = await route.server.callTool(route.upstreamName, input, options);
      if (isToolError(result)) outcome = 'tool_error';
      return result;
    } catch (error) {
      outcome = isPatchbayError(error) ? error.code.toLowerCase() : 'internal';
      throw error;
    } finally {
      const attributes = { server: route.server.id, tool: route.upstreamName, outcome };
      this.calls.add(1, attributes);
      this.duration.labels(route.server.id, outcome).record((performance.now() - started) / 1000);
    }
  }

  private mayUse(principal: Principal | undefined, route: ToolRoute | undefined): boolean {
    if (!route) return false;
    return principal === undefined || (mayUseConnector(principal, route.server.spec.configId) && mayUseTool(principal, route.name));
  }

  private serversResult(principal: Principal | undefined): unknown {
    const servers = visibleStatuses(this.manager, principal).map((s) =>
      'tools' in s
        ? {
            id: s.id,
            configId: s.configId,
            state: s.state,
            breaker: s.breaker,
            transport: s.transport,
            tools: s.tools,
            restarts: s.restarts,
            lastError: s.lastError,
          }
        : { id: s.id, configId: s.configId, state: s.state, lastError: s.message },
    );
    return { content: [{ type: 'text', text: JSON.stringify({ servers }, null, 2) }], structuredContent: { servers } };
  }
}

function isToolError(result: unknown): boolean {
  return typeof result === 'object' && result !== null && (result as { isError?: unknown }).isError === true;
}
