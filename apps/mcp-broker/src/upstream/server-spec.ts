import { isAbsolute, resolve } from 'node:path';
import { AGENT_TOOL_OPTIONS, VIRTUAL_TRANSPORT, type AgentTransport, type ResolvedConnector } from '@patchbay/core';

export type UpstreamTransport = AgentTransport;
export type Lifecycle = 'persistent' | 'per-call';

/** Everything needed to run one upstream MCP server, derived from an `agent_tool` connector. */
export interface ServerSpec {
  /** Tool prefix: the configId, or the member id inside an array connector. */
  id: string;
  configId: string;
  revision: number;
  transport: UpstreamTransport;
  command?: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  url?: string;
  headers: Record<string, string>;
  lifecycle: Lifecycle;
  /** Sessions (processes for stdio) kept open and shared by calls. */
  poolSize: number;
  /** A downstream session gets its own upstream session (the server keeps per-client state). */
  stateful: boolean;
  /** Per-call timeout in ms; 0 = none. */
  timeoutMs: number;
  /** JSON of the fields above: equal fingerprints mean nothing to reconnect for. */
  fingerprint: string;
}

export interface SpecDefaults {
  /** Base for relative `cwd` (and the default cwd). */
  workdir: string;
  /** Expanded for `${dataDir}` in args, env and cwd. */
  dataDir: string;
  callTimeoutMs: number;
}

/** A connector member that cannot run, with the reason (shown in `/v1/servers`). */
export interface SpecProblem {
  id: string;
  configId: string;
  message: string;
}

function expand(value: string, defaults: SpecDefaults): string {
  return value.replace(/\$\{(dataDir|workdir)\}/g, (_all, name: string) =>
    name === 'dataDir' ? resolve(defaults.workdir, defaults.dataDir) : defaults.workdir,
  );
}

function buildSpec(
  id: string,
  configId: string,
  revision: number,
  url: string | null,
  headers: Record<string, string>,
  rawOptions: Record<string, unknown>,
  transportHint: string | undefined,
  defaults: SpecDefaults,
): ServerSpec {
  // The registry's own schema: what it accepted, this can run.
  const parsed = AGENT_TOOL_OPTIONS.safeParse(rawOptions);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`options.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const o = parsed.data;
  if (o.transport === VIRTUAL_TRANSPORT) throw new Error("options.transport: 'virtual' is for a whole connector, not a member of an array connector");
  const hinted = transportHint === 'stdio' || transportHint === 'sse' || transportHint === 'streamable-http' ? transportHint : undefined;
  const transport: UpstreamTransport = hinted ?? o.transport ?? (o.command ? 'stdio' : 'streamable-http');
  const cwd = o.cwd ? expand(o.cwd, defaults) : defaults.workdir;
  const spec: ServerSpec = {
    id,
    configId,
    revision,
    transport,
    args: (o.args ?? []).map((a) => expand(a, defaults)),
    env: Object.fromEntries(Object.entries(o.env ?? {}).map(([k, v]) => [k, expand(v, defaults)])),
    cwd: isAbsolute(cwd) ? cwd : resolve(defaults.workdir, cwd),
    headers: { ...(o.headers ?? {}), ...headers },
    lifecycle: o.lifecycle ?? 'persistent',
    poolSize: o.pool ?? 1,
    stateful: o.stateful ?? false,
    timeoutMs: o.timeoutMs ?? defaults.callTimeoutMs,
    fingerprint: '',
  };
  if (transport === 'stdio') {
    if (!o.command) throw new Error('options.command is required for the stdio transport');
    // `node` means this broker's own Node binary, so PATH and version managers don't matter.
    spec.command = o.command === 'node' ? process.execPath : o.command;
  } else {
    if (!url) throw new Error(`no url resolved for the ${transport} transport (set url, or ${configId.toUpperCase()}_URL on the registry)`);
    spec.url = url;
  }
  const { fingerprint: _ignored, revision: _revision, ...material } = spec;
  spec.fingerprint = JSON.stringify(material);
  return spec;
}

/**
 * Turns a resolved `agent_tool` connector into server specs: one for a single connector,
 * one per member for an array connector (member options override the connector's).
 */
export function specsFromConnector(connector: ResolvedConnector, defaults: SpecDefaults): { specs: ServerSpec[]; problems: SpecProblem[] } {
  const specs: ServerSpec[] = [];
  const problems: SpecProblem[] = [];
  const attempt = (id: string, build: () => ServerSpec): void => {
    try {
      specs.push(build());
    } catch (error) {
      problems.push({ id, configId: connector.configId, message: error instanceof Error ? error.message : String(error) });
    }
  };
  if (connector.members) {
    for (const member of connector.members) {
      attempt(member.id, () =>
        buildSpec(
          member.id,
          connector.configId,
          connector.revision,
          member.url,
          { ...connector.headers, ...member.headers },
          { ...connector.options, ...member.options },
          member.transport,
          defaults,
        ),
      );
    }
  } else {
    attempt(connector.configId, () =>
      buildSpec(connector.configId, connector.configId, connector.revision, connector.url, connector.headers, connector.options, undefined, defaults),
    );
  }
  return { specs, problems };
}
