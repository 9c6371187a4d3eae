import { AGENT_TOOL_OPTIONS, VIRTUAL_TRANSPORT, type ResolvedConnector } from '@patchbay/core';
import { compileNameFilter, type NameFilter } from '@patchbay/nest';

/** A virtual server: a curated view of the other servers, served at `/mcp/<configId>`. */
export interface VirtualSpec {
  configId: string;
  revision: number;
  /** Globs over `<server>__<name>` (tools, prompts, resources and templates alike). */
  select: readonly string[];
  /** `select` compiled. */
  selects: NameFilter;
  /** Serve upstream names without `<server>__` where they stay unique in the view. */
  stripPrefix: boolean;
}

/** True when the connector is a virtual server (`options.transport: 'virtual'`). */
export function isVirtual(connector: ResolvedConnector): boolean {
  return connector.options?.['transport'] === VIRTUAL_TRANSPORT;
}

/**
 * The virtual server a connector declares.
 * @throws Error naming the option when the registry's schema refuses it.
 */
export function virtualSpecOf(connector: ResolvedConnector): VirtualSpec {
  const parsed = AGENT_TOOL_OPTIONS.safeParse(connector.options ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`options.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  if (connector.members?.length) throw new Error("a virtual server has no members: select other servers' tools with options.select");
  const select = parsed.data.select ?? [];
  return {
    configId: connector.configId,
    revision: connector.revision,
    select,
    selects: compileNameFilter(select),
    stripPrefix: parsed.data.stripPrefix ?? false,
  };
}
