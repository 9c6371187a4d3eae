/**
 * Wire types of the config-registry API, shared by the registry and every broker.
 */

/** Every connector type, in a stable order. */
export const CONNECTOR_TYPES = ['llm', 'bucket', 'database', 'api', 'endpoint', 'data_source', 'agent_tool'] as const;
export type ConnectorType = (typeof CONNECTOR_TYPES)[number];

/** `configId` rule: usable as an environment variable prefix. */
export const CONFIG_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;
/** Member ids inside an array connector (also MCP tool prefixes). */
export const MEMBER_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

/** Names of the write-only secret fields. */
export const CREDENTIAL_FIELDS = ['apiKey', 'username', 'password'] as const;
export type CredentialField = (typeof CREDENTIAL_FIELDS)[number];
export type Credentials = Partial<Record<CredentialField, string>>;

/** Resolution modes of the registry (ARCHITECTURE.md section 4). */
export type ResolutionMode = 'local' | 'stack';
/** Which rule produced a resolved url. */
export type ResolutionSource = 'explicit' | 'stack' | 'env' | 'none';

/** One member of an array connector, as read back (no secrets). */
export interface ConnectorMember {
  id: string;
  url?: string;
  stackId?: string;
  transport?: string;
  options?: Record<string, unknown>;
  /** Which credential fields are set; values are write-only. */
  credentialsSet?: CredentialField[];
}

/** A connector as the registry returns it to readers: never any secret value. */
export interface Connector {
  configId: string;
  type: ConnectorType;
  label: string;
  stackId?: string;
  url?: string;
  options: Record<string, unknown>;
  /** Present on array connectors. */
  members?: ConnectorMember[];
  /** Which credential fields are set; values are write-only. */
  credentialsSet: CredentialField[];
  revision: number;
  /** sha256 of the connector's canonical content (secrets included as hashes). */
  checksum: string;
  createdAt: string;
  updatedAt: string;
}

/** One resolved endpoint. */
export interface ResolvedMember {
  id: string;
  url: string | null;
  source: ResolutionSource;
  transport?: string;
  headers: Record<string, string>;
  options?: Record<string, unknown>;
  credentials?: Credentials;
}

/**
 * The answer of `GET /v1/connectors/:configId/resolve`. `headers` and `credentials`
 * are only filled for callers holding the `resolve` scope.
 */
export interface ResolvedConnector {
  configId: string;
  type: ConnectorType;
  revision: number;
  checksum: string;
  mode: ResolutionMode;
  url: string | null;
  source: ResolutionSource;
  headers: Record<string, string>;
  options: Record<string, unknown>;
  credentials?: Credentials;
  /** Present on array connectors, one entry per member. */
  members?: ResolvedMember[];
}

/** What one revision did to one connector. */
export type ChangeAction = 'upsert' | 'delete';

/** One entry of `GET /v1/changes` and of the `/v1/watch` stream. */
export interface ConnectorChange {
  revision: number;
  configId: string;
  type: ConnectorType;
  action: ChangeAction;
  checksum: string | null;
  at: string;
}

/** The answer of `GET /v1/changes?since=REV`. */
export interface ChangesPage {
  /** The registry's newest revision; lower than a client's = the store was reset. */
  head: number;
  changes: ConnectorChange[];
  /** True when more changes exist after the last one returned. */
  more: boolean;
}
