import { AGENT_TOOL_OPTIONS, ErrorCode, PatchbayError, type ResolvedConnector } from '@patchbay/core';

/** How an agent reaches one MCP server: the fields the official SDK's transports take. */
export type McpServerSettings =
  | { transport: 'stdio'; command: string; args: string[]; env: Record<string, string>; cwd?: string }
  | { transport: 'streamable-http' | 'sse'; url: string; headers: Record<string, string> };

export interface McpServersOptions {
  /**
   * `direct` (default): each member's own transport (stdio for local servers, Streamable
   * HTTP or SSE for remote ones). `broker`: one entry, `patchbay`, for the mcp-broker's
   * aggregated endpoint, whose tools are named `<serverId>__<tool>`. A virtual server
   * (`transport: 'virtual'`) is always the broker's `/mcp/<configId>`.
   */
  via?: 'direct' | 'broker';
  /** The mcp-broker (default `PATCHBAY_MCP_BROKER_URL`, else http://127.0.0.1:7400). */
  brokerUrl: string;
  /** Bearer token for the broker (a `use`-scoped Patchbay token). */
  token: string;
}

function settingsFor(
  id: string,
  url: string | null,
  headers: Record<string, string>,
  rawOptions: Record<string, unknown>,
  hint: string | undefined,
): McpServerSettings {
  // The registry validated with the same schema; parsing again types the fields.
  const parsed = AGENT_TOOL_OPTIONS.safeParse(rawOptions);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PatchbayError(ErrorCode.VALIDATION, `MCP server '${id}': options.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const o = parsed.data;
  const hinted = hint === 'stdio' || hint === 'sse' || hint === 'streamable-http' ? hint : undefined;
  const transport = hinted ?? o.transport ?? (o.command ? 'stdio' : 'streamable-http');
  if (transport === 'stdio') {
    if (!o.command) throw new PatchbayError(ErrorCode.VALIDATION, `MCP server '${id}': options.command is required for the stdio transport`);
    const settings: McpServerSettings = { transport, command: o.command, args: o.args ?? [], env: o.env ?? {} };
    if (o.cwd) settings.cwd = o.cwd;
    return settings;
  }
  if (transport === 'virtual') {
    throw new PatchbayError(ErrorCode.VALIDATION, `MCP server '${id}': a virtual server has no transport of its own; reach it through the mcp-broker`);
  }
  if (!url) throw new PatchbayError(ErrorCode.VALIDATION, `MCP server '${id}': no url resolved for the ${transport} transport`);
  return { transport, url, headers: { ...(o.headers ?? {}), ...headers } };
}

/**
 * Transport settings keyed by MCP server id (the member id, or the configId of a single
 * connector). Secrets in `env` / `headers` are only present for `resolve`-scoped tokens.
 */
export function mcpServersFrom(connector: ResolvedConnector, options: McpServersOptions): Record<string, McpServerSettings> {
  if (connector.type !== 'agent_tool') {
    throw new PatchbayError(ErrorCode.VALIDATION, `connector '${connector.configId}' is a ${connector.type} connector, not agent_tool`);
  }
  const virtual = connector.options.transport === 'virtual';
  // A virtual server exists only on the broker (a curated view over other servers' tools).
  if (options.via === 'broker' || virtual) {
    const endpoint = virtual ? `/mcp/${connector.configId}` : '/mcp';
    return { patchbay: { transport: 'streamable-http', url: `${options.brokerUrl}${endpoint}`, headers: { Authorization: `Bearer ${options.token}` } } };
  }
  const servers: Record<string, McpServerSettings> = {};
  if (connector.members) {
    for (const member of connector.members) {
      servers[member.id] = settingsFor(
        member.id,
        member.url,
        { ...connector.headers, ...member.headers },
        { ...connector.options, ...member.options },
        member.transport,
      );
    }
  } else {
    servers[connector.configId] = settingsFor(connector.configId, connector.url, connector.headers, connector.options, undefined);
  }
  return servers;
}
