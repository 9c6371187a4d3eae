import type { Prompt, Resource, ResourceTemplate, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { JsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import type { NameFilter } from '@patchbay/nest';
import { namespacedName } from '../mcp/naming';
import type { Catalog } from '../upstream/catalog';
import type { CallOptions } from '../upstream/upstream-handle';
import type { UpstreamServer } from '../upstream/upstream-server';

/** What a tool call goes to: an upstream MCP server, or one the broker serves itself (a database's tools). */
export interface ToolOwner {
  readonly id: string;
  /** The connector whose allow-list entry the caller needs. */
  readonly spec: { readonly configId: string };
  callTool(name: string, args: Record<string, unknown> | undefined, options?: CallOptions): Promise<unknown>;
}

/** A tool owner that is no upstream: its tools are its own, the same for every caller. */
export interface ToolSource extends ToolOwner {
  readonly tools: readonly Tool[];
}

/** One served tool: the exposed definition and where calls go. */
export interface ToolRoute {
  /** The tool's qualified name `<server>__<tool>` (what token `tools` globs match), whatever name it is served under. */
  name: string;
  server: ToolOwner;
  upstreamName: string;
  /** The definition served (its `name` is the one clients call). */
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

/**
 * What one endpoint serves: `/mcp` (every active server, names `<server>__<name>`) or a
 * virtual server (what its `select` picks, prefixes stripped where asked). Keys of the
 * route maps are the served names.
 */
export interface CatalogView {
  tools: Tool[];
  toolRoutes: Map<string, ToolRoute>;
  prompts: Prompt[];
  promptRoutes: Map<string, PromptRoute>;
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
  /** Resource uri -> owning server. */
  resourceOwners: Map<string, UpstreamServer>;
  /** Template prefixes (text before the first `{`) -> owning server, longest first. */
  templateOwners: [prefix: string, server: UpstreamServer][];
  /** Each exposed template (of `resourceTemplates`) -> owning server. */
  templateServers: Map<ResourceTemplate, UpstreamServer>;
  /** Serves the broker's own `patchbay__servers` tool (`/mcp` does, virtual servers do not). */
  management: boolean;
  /** Changes exactly when what a client would list changes (drives `list_changed`). */
  signature: string;
}

export interface ViewOptions {
  /** Keeps only names `<server>__<name>` it passes (all when absent). */
  select?: NameFilter;
  /** Serves upstream names unprefixed where no other selected item has the same. */
  stripPrefix?: boolean;
  management?: boolean;
  /** What each server offers (default: its shared catalog; a downstream peer's own session may list more). */
  catalogOf?: (server: UpstreamServer) => Catalog;
  /** Tools served beside the upstreams' (databases as tools), in id order with them. */
  toolSources?: readonly ToolSource[];
  validatorFor(tool: Tool): JsonSchemaValidator<unknown> | undefined;
}

interface Candidate<T, S extends ToolOwner = UpstreamServer> {
  server: S;
  item: T;
  /** The upstream's own name. */
  own: string;
  qualified: string;
}

/** Served names: qualified, or the upstream's own where `strip` and it is unique among the candidates. */
function servedNames<T, S extends ToolOwner>(candidates: Candidate<T, S>[], strip: boolean): string[] {
  if (!strip) return candidates.map((c) => c.qualified);
  const counts = new Map<string, number>();
  for (const c of candidates) counts.set(c.own, (counts.get(c.own) ?? 0) + 1);
  const qualified = new Set(candidates.map((c) => c.qualified));
  return candidates.map((c) => ((counts.get(c.own) ?? 0) === 1 && (!qualified.has(c.own) || c.own === c.qualified) ? c.own : c.qualified));
}

function candidates<T, S extends ToolOwner = UpstreamServer>(
  servers: readonly S[],
  items: (s: S) => readonly T[],
  nameOf: (item: T) => string,
  select: NameFilter | undefined,
): Candidate<T, S>[] {
  const out: Candidate<T, S>[] = [];
  const seen = new Set<string>();
  for (const server of servers) {
    for (const item of items(server)) {
      const own = nameOf(item);
      const qualified = namespacedName(server.id, own);
      if (seen.has(qualified) || (select && !select(qualified))) continue;
      seen.add(qualified);
      out.push({ server, item, own, qualified });
    }
  }
  return out;
}

/** Builds one endpoint's view over `servers` (those in service, in id order). */
export function buildView(servers: UpstreamServer[], options: ViewOptions): CatalogView {
  const strip = options.stripPrefix ?? false;
  const of = options.catalogOf ?? ((server: UpstreamServer): Catalog => server.catalog);
  const view: CatalogView = {
    tools: [],
    toolRoutes: new Map(),
    prompts: [],
    promptRoutes: new Map(),
    resources: [],
    resourceTemplates: [],
    resourceOwners: new Map(),
    templateOwners: [],
    templateServers: new Map(),
    management: options.management ?? false,
    signature: '',
  };
  const sources = new Set<ToolOwner>(options.toolSources);
  const owners: ToolOwner[] = [...servers, ...sources].sort((a, b) => a.id.localeCompare(b.id));
  const tools = candidates<Tool, ToolOwner>(
    owners,
    (s) => (sources.has(s) ? (s as ToolSource).tools : of(s as UpstreamServer).tools),
    (t) => t.name,
    options.select,
  );
  servedNames(tools, strip).forEach((name, i) => {
    const { server, item: tool, own, qualified } = tools[i] as Candidate<Tool, ToolOwner>;
    const exposed: Tool = { ...tool, name };
    if (tool.title === undefined && name !== own) exposed.title = own;
    view.tools.push(exposed);
    view.toolRoutes.set(name, { name: qualified, server, upstreamName: own, tool: exposed, validate: options.validatorFor(tool) });
  });
  const prompts = candidates(
    servers,
    (s) => of(s).prompts,
    (p) => p.name,
    options.select,
  );
  servedNames(prompts, strip).forEach((name, i) => {
    const { server, item: prompt, own, qualified } = prompts[i] as Candidate<Prompt>;
    const exposed: Prompt = { ...prompt, name };
    view.prompts.push(exposed);
    view.promptRoutes.set(name, { name: qualified, server, upstreamName: own, prompt: exposed });
  });
  // Resources are addressed by uri; their names are only labels, prefixed like the rest.
  const resources = candidates(
    servers,
    (s) => of(s).resources,
    (r) => r.name,
    options.select,
  );
  servedNames(resources, strip).forEach((name, i) => {
    const { server, item } = resources[i] as Candidate<Resource>;
    if (view.resourceOwners.has(item.uri)) return;
    view.resourceOwners.set(item.uri, server);
    view.resources.push({ ...item, name });
  });
  const templates = candidates(
    servers,
    (s) => of(s).resourceTemplates,
    (t) => t.name,
    options.select,
  );
  servedNames(templates, strip).forEach((name, i) => {
    const { server, item } = templates[i] as Candidate<ResourceTemplate>;
    const exposed: ResourceTemplate = { ...item, name };
    view.resourceTemplates.push(exposed);
    view.templateServers.set(exposed, server);
    view.templateOwners.push([item.uriTemplate.split('{')[0] ?? item.uriTemplate, server]);
  });
  view.templateOwners.sort((a, b) => b[0].length - a[0].length);
  view.signature = JSON.stringify([view.tools, view.prompts, view.resources, view.resourceTemplates]);
  return view;
}

/** The view of nothing (no server in service yet). */
export function emptyView(): CatalogView {
  return buildView([], { validatorFor: () => undefined });
}
