import { ErrorCode, PatchbayError, type ChangesPage, type Connector, type ConnectorType, type ResolvedConnector } from '@patchbay/core';
import { Agent, request } from 'undici';
import { currentTraceparent } from '../http/trace-context';

export interface RegistryClientOptions {
  /** Base URL of the config-registry, e.g. http://127.0.0.1:7100 */
  baseUrl: string;
  /** Bearer token; needs `read`, plus `resolve` to receive credentials. */
  token: string;
  /** Per-request timeout in ms (default 5000). */
  timeoutMs?: number;
  /** Supplies the `traceparent` to send (default: the current request's or span's). */
  traceparent?: () => string | undefined;
}

/** The answer of `GET /v1/connectors`: `head` is the newest revision the snapshot includes. */
export interface ConnectorList {
  items: Connector[];
  head: number;
}

/** What a broker needs from the registry: the port the watcher depends on. */
export interface RegistryReader {
  list(type?: ConnectorType): Promise<ConnectorList>;
  resolve(configId: string): Promise<ResolvedConnector | undefined>;
  changes(since: number, limit?: number): Promise<ChangesPage>;
}

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * A small HTTP client for the config-registry API. Every failure is a PatchbayError:
 * the registry's own problem code when it answered, UPSTREAM_UNAVAILABLE when it could
 * not be reached, TIMEOUT when it did not answer in time.
 */
export class RegistryClient implements RegistryReader {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  /** Keep-alive connections to the registry (undici: far cheaper per call than fetch). */
  private readonly agent = new Agent({ keepAliveTimeout: 30_000, connections: 16 });

  constructor(private readonly options: RegistryClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Lists connectors, optionally of one type, with the head revision of that snapshot. */
  async list(type?: ConnectorType): Promise<ConnectorList> {
    return this.request<ConnectorList>(`/v1/connectors${type ? `?type=${type}` : ''}`);
  }

  /** Reads one connector; undefined when it does not exist. */
  async get(configId: string): Promise<Connector | undefined> {
    try {
      return await this.request<Connector>(`/v1/connectors/${encodeURIComponent(configId)}`);
    } catch (error) {
      if (error instanceof PatchbayError && error.code === ErrorCode.NOT_FOUND) return undefined;
      throw error;
    }
  }

  /** Resolves a connector (credentials included when the token has `resolve`); undefined when absent. */
  async resolve(configId: string): Promise<ResolvedConnector | undefined> {
    try {
      return await this.request<ResolvedConnector>(`/v1/connectors/${encodeURIComponent(configId)}/resolve`);
    } catch (error) {
      if (error instanceof PatchbayError && error.code === ErrorCode.NOT_FOUND) return undefined;
      throw error;
    }
  }

  /** Changes after `since` (exclusive), oldest first. */
  async changes(since: number, limit = 500): Promise<ChangesPage> {
    return this.request<ChangesPage>(`/v1/changes?since=${since}&limit=${limit}`);
  }

  private async request<T>(path: string): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, accept: 'application/json' };
    const traceparent = (this.options.traceparent ?? currentTraceparent)();
    if (traceparent) headers.traceparent = traceparent;
    let statusCode: number;
    let text: string;
    try {
      const response = await request(`${this.baseUrl}${path}`, {
        headers,
        dispatcher: this.agent,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      statusCode = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      const code = (error as { code?: string; name?: string }).code ?? (error as { name?: string }).name;
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'TimeoutError' || code === 'AbortError') {
        throw new PatchbayError(ErrorCode.TIMEOUT, `registry did not answer within ${this.timeoutMs} ms`, { cause: error });
      }
      throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `registry unreachable at ${this.baseUrl}`, { cause: error });
    }
    if (statusCode >= 300) {
      let code = ErrorCode.UPSTREAM_ERROR;
      let detail = `registry answered ${statusCode}`;
      try {
        const problem = JSON.parse(text) as { code?: string; detail?: string };
        if (problem.code && ERROR_CODES.has(problem.code)) code = problem.code as ErrorCode;
        if (problem.detail) detail = problem.detail;
      } catch {
        // not a problem document; keep the generic message
      }
      throw new PatchbayError(code, detail);
    }
    return JSON.parse(text) as T;
  }

  /** Closes the keep-alive connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }
}
