import type { ConnectorType, Credentials, ResolutionMode, ResolutionSource, ResolvedConnector, ResolvedMember } from '@patchbay/core';

/** Default Kubernetes namespace per connector type in stack mode (overridable by `options.namespace`). */
const DEFAULT_NAMESPACES: Readonly<Record<ConnectorType, string>> = {
  database: 'databases',
  llm: 'llms',
  bucket: 'buckets',
  api: 'apis',
  endpoint: 'endpoints',
  data_source: 'data-sources',
  agent_tool: 'agent-tools',
};

const DEFAULT_STACK_DOMAIN = 'svc.cluster.local';

export interface ResolverConfig {
  mode: ResolutionMode;
  /** Cluster DNS suffix for stack mode; default `svc.cluster.local`. */
  domain?: string;
  /** Environment read in local mode (`{CONFIG_ID}_URL`, `{CONFIG_ID}_APIKEY`); usually `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface ResolvableMember {
  id: string;
  url?: string;
  stackId?: string;
  transport?: string;
  options?: Record<string, unknown>;
  credentials?: Credentials;
}

/** A stored connector with its credentials decrypted (or omitted when not needed). */
export interface ResolvableConnector {
  configId: string;
  type: ConnectorType;
  revision: number;
  checksum: string;
  url?: string;
  stackId?: string;
  options: Record<string, unknown>;
  credentials?: Credentials;
  members?: ResolvableMember[];
}

export interface ResolveOptions {
  /** The caller holds the `resolve` scope: include the Authorization header and credentials. */
  includeSecrets: boolean;
}

interface Target {
  url: string | null;
  source: ResolutionSource;
  apiKey: string | undefined;
}

/** Env names are upper-cased with `-` turned into `_` (member ids may contain hyphens). */
function envPrefix(...parts: string[]): string {
  return parts.map((p) => p.toUpperCase().replace(/-/g, '_')).join('_');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Turns a connector into the url and headers a caller should use (ARCHITECTURE.md
 * section 4), first match wins: explicit url, then stack-built (mode `stack`) or env
 * (mode `local`). Unresolvable is not an error: url null, source `none`.
 */
export class ConnectorResolver {
  private readonly domain: string;
  private readonly env: Readonly<Record<string, string | undefined>>;

  constructor(private readonly config: ResolverConfig) {
    this.domain = config.domain ?? DEFAULT_STACK_DOMAIN;
    this.env = config.env ?? {};
  }

  get mode(): ResolutionMode {
    return this.config.mode;
  }

  resolve(connector: ResolvableConnector, options: ResolveOptions): ResolvedConnector {
    const resolved: ResolvedConnector = {
      configId: connector.configId,
      type: connector.type,
      revision: connector.revision,
      checksum: connector.checksum,
      mode: this.config.mode,
      url: null,
      source: 'none',
      headers: {},
      options: connector.options,
    };
    if (connector.members) {
      resolved.members = connector.members.map((member) => this.resolveMember(connector, member, options));
      // An array connector has no single url; its source summarises the members'.
      resolved.source = resolved.members.find((m) => m.source !== 'none')?.source ?? 'none';
      if (options.includeSecrets && connector.credentials && Object.keys(connector.credentials).length > 0) {
        resolved.credentials = { ...connector.credentials };
      }
      return resolved;
    }
    const target = this.target(connector, connector.url, connector.stackId, connector.credentials?.apiKey, [connector.configId], connector.options);
    resolved.url = target.url;
    resolved.source = target.source;
    if (options.includeSecrets) {
      if (target.apiKey) resolved.headers = { Authorization: `Bearer ${target.apiKey}` };
      const credentials: Credentials = { ...connector.credentials };
      if (target.apiKey && !credentials.apiKey) credentials.apiKey = target.apiKey;
      if (Object.keys(credentials).length > 0) resolved.credentials = credentials;
    }
    return resolved;
  }

  private resolveMember(parent: ResolvableConnector, member: ResolvableMember, options: ResolveOptions): ResolvedMember {
    const memberOptions = { ...parent.options, ...member.options };
    const transport = member.transport ?? (typeof memberOptions['transport'] === 'string' ? memberOptions['transport'] : undefined);
    const storedKey = member.credentials?.apiKey ?? parent.credentials?.apiKey;
    let target: Target;
    if (transport === 'stdio') {
      // A stdio MCP server is started from options.command; it has no url to resolve.
      target = { url: null, source: 'explicit', apiKey: storedKey };
    } else {
      target = this.target(parent, member.url, member.stackId, storedKey, [parent.configId, member.id], memberOptions);
    }
    const resolved: ResolvedMember = { id: member.id, url: target.url, source: target.source, headers: {} };
    if (transport !== undefined) resolved.transport = transport;
    if (member.options !== undefined) resolved.options = member.options;
    if (options.includeSecrets) {
      if (target.apiKey) resolved.headers = { Authorization: `Bearer ${target.apiKey}` };
      const credentials: Credentials = { ...member.credentials };
      if (target.apiKey && !credentials.apiKey) credentials.apiKey = target.apiKey;
      if (Object.keys(credentials).length > 0) resolved.credentials = credentials;
    }
    return resolved;
  }

  private target(
    connector: ResolvableConnector,
    url: string | undefined,
    stackId: string | undefined,
    storedKey: string | undefined,
    envParts: string[],
    options: Record<string, unknown>,
  ): Target {
    const envKey = this.config.mode === 'local' ? this.envValue(envParts, 'APIKEY') : undefined;
    const apiKey = nonEmpty(storedKey) ?? envKey;
    if (url) return { url, source: 'explicit', apiKey };
    if (this.config.mode === 'stack') {
      if (!stackId) return { url: null, source: 'none', apiKey };
      return { url: this.stackUrl(connector.type, stackId, options), source: 'stack', apiKey };
    }
    const envUrl = this.envValue(envParts, 'URL');
    return envUrl ? { url: envUrl, source: 'env', apiKey } : { url: null, source: 'none', apiKey };
  }

  /** `{CONFIG_ID}_URL` as written first (the seed's form), then upper-cased. */
  private envValue(parts: string[], suffix: string): string | undefined {
    const exact = nonEmpty(this.env[`${parts.join('_')}_${suffix}`]);
    return exact ?? nonEmpty(this.env[`${envPrefix(...parts)}_${suffix}`]);
  }

  private stackUrl(type: ConnectorType, stackId: string, options: Record<string, unknown>): string {
    const override = options['namespace'];
    const namespace = typeof override === 'string' && override ? override : DEFAULT_NAMESPACES[type];
    if (type === 'database') {
      const host = `${stackId}-rw.${namespace}.${this.domain}`;
      const database = options['database'];
      // The seed hands brokers a bare host; with a database name we can give a full url.
      return typeof database === 'string' && database ? `postgres://${host}:5432/${encodeURIComponent(database)}` : host;
    }
    return `http://${stackId}.${namespace}.${this.domain}:8080`;
  }
}
