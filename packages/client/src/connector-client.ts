import { ErrorCode, PatchbayError, type ConnectorChange, type ResolutionMode, type ResolvedConnector } from '@patchbay/core';
import { getApiParameters, type ApiParameters } from './api-parameters';
import { envFor, readClientEnvironment, type ClientEnvironment, type Env } from './environment';
import { mcpServersFrom, type McpServerSettings, type McpServersOptions } from './mcp';
import { RegistryClient } from './registry-client';
import { watchChanges, type WatchOptions } from './watch';

export interface ConnectorClientOptions {
  /** Default: `PATCHBAY_REGISTRY_URL`, else http://127.0.0.1:7100. */
  registryUrl?: string;
  /** Default: `PATCHBAY_TOKEN`. */
  token?: string;
  /** Default: `PATCHBAY_MODE`, else `local`. */
  mode?: ResolutionMode;
  /** Where the defaults above come from (default `process.env`). */
  env?: Env;
  /** Per-request timeout in ms (default 5000). */
  timeoutMs?: number;
}

/** A connector followed live: the latest resolution (undefined once deleted). */
export interface FollowedConnector {
  readonly current: ResolvedConnector | undefined;
  close(): void;
}

export interface FollowOptions {
  /** Called after each change with the new resolution (undefined = deleted). */
  onChange?: (connector: ResolvedConnector | undefined) => void;
  /** Called when re-resolving failed; the previous value stays current (default: ignored). */
  onError?: (error: unknown) => void;
  watch?: Omit<WatchOptions, 'signal' | 'since'>;
}

/**
 * The postgres URL of a resolved `database` connector with its username and password
 * merged in, unless the URL already names a user.
 */
export function databaseUrlOf(connector: ResolvedConnector): string {
  const { url, credentials } = connector;
  if (!url) throw new PatchbayError(ErrorCode.NOT_FOUND, `connector '${connector.configId}' resolves to no url (set its url or stackId)`);
  if (!credentials?.username && !credentials?.password) return url;
  const parsed = new URL(url);
  if (parsed.username) return url;
  if (credentials.username) parsed.username = encodeURIComponent(credentials.username);
  if (credentials.password) parsed.password = encodeURIComponent(credentials.password);
  return parsed.toString();
}

/**
 * The seed's connector config manager: resolves connectors through the registry (or the
 * environment in local mode) and follows their changes. One per process is plenty.
 */
export class ConnectorClient {
  readonly registry: RegistryClient;
  readonly environment: ClientEnvironment;
  private readonly env: Env;
  private readonly mode: ResolutionMode;

  constructor(options: ConnectorClientOptions = {}) {
    this.env = options.env ?? process.env;
    const environment = readClientEnvironment(this.env);
    this.environment = {
      ...environment,
      registryUrl: options.registryUrl?.replace(/\/+$/, '') ?? environment.registryUrl,
      token: options.token ?? environment.token,
    };
    this.mode = options.mode ?? environment.mode;
    this.registry = new RegistryClient({
      baseUrl: this.environment.registryUrl,
      token: this.environment.token ?? '',
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
  }

  /**
   * Resolves a connector.
   *
   * @throws PatchbayError NOT_FOUND when it does not exist (or the token may not see it).
   */
  async resolve(configId: string): Promise<ResolvedConnector> {
    this.needToken(configId);
    const resolved = await this.registry.resolve(configId);
    if (!resolved) throw PatchbayError.notFound(`connector '${configId}'`);
    return resolved;
  }

  /** `getApiParameters` with this client's registry, mode and environment. */
  getApiParameters(configId: string): Promise<ApiParameters> {
    return getApiParameters(configId, { mode: this.mode, env: this.env, registry: this.environment.token ? this.registry : false });
  }

  /**
   * A postgres URL for a `database` connector, with its username and password merged in
   * (they need a `resolve`-scoped token). Local mode: `{CONFIG_ID}_URL` wins.
   */
  async fetchDatabaseUrl(configId = 'DATABASE'): Promise<string> {
    const local = this.localUrl(configId);
    if (local) return local;
    return databaseUrlOf(await this.resolve(configId));
  }

  /** Base URL and headers of an `llm` connector (the upstream itself, not the llm-proxy). */
  async fetchLlmUrl(configId = 'LLM'): Promise<ApiParameters> {
    const parameters = await this.getApiParameters(configId);
    if (!parameters.url)
      throw new PatchbayError(ErrorCode.NOT_FOUND, `connector '${configId}' resolves to no url (set ${configId}_URL or the connector's url)`);
    return parameters;
  }

  /** Transport settings for each MCP server of an `agent_tool` connector (array or single). */
  async fetchMcpServers(configId = 'agentTools', options: Omit<McpServersOptions, 'token' | 'brokerUrl'> = {}): Promise<Record<string, McpServerSettings>> {
    const resolved = await this.resolve(configId);
    return mcpServersFrom(resolved, { ...options, brokerUrl: this.environment.mcpBrokerUrl, token: this.environment.token ?? '' });
  }

  /** The registry's changes from now on (or after `since`): SSE, resumable, polling as fallback. */
  watch(options: WatchOptions = {}): AsyncGenerator<ConnectorChange> {
    this.needToken('the registry');
    return watchChanges(this.registry, options);
  }

  /**
   * Resolves `configId` and keeps the answer current as it changes. Resolves after the
   * first answer; a missing connector starts as undefined and appears when created.
   */
  async follow(configId: string, options: FollowOptions = {}): Promise<FollowedConnector> {
    this.needToken(configId);
    const controller = new AbortController();
    const head = (await this.registry.changes(0, 1)).head;
    let current = await this.registry.resolve(configId);
    const followed: FollowedConnector = {
      get current() {
        return current;
      },
      close: () => controller.abort(),
    };
    void (async () => {
      try {
        for await (const change of watchChanges(this.registry, { ...options.watch, since: head, signal: controller.signal })) {
          if (change.configId !== configId) continue;
          try {
            current = change.action === 'delete' ? undefined : await this.registry.resolve(configId);
            options.onChange?.(current);
          } catch (error) {
            options.onError?.(error);
          }
        }
      } catch (error) {
        if (!controller.signal.aborted) options.onError?.(error);
      }
    })();
    return followed;
  }

  /** Closes keep-alive connections (follows and watches end with their own signal). */
  async close(): Promise<void> {
    await this.registry.close();
  }

  private localUrl(configId: string): string | undefined {
    return this.mode === 'local' ? envFor(this.env, configId, 'URL') : undefined;
  }

  private needToken(what: string): void {
    if (!this.environment.token) {
      throw new PatchbayError(
        ErrorCode.UNAUTHORIZED,
        `reading ${what === 'the registry' ? what : `'${what}'`} from the registry needs a token: set PATCHBAY_TOKEN`,
      );
    }
  }
}
