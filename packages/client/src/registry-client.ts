import { ErrorCode, PatchbayError, type ChangesPage, type Connector, type ConnectorType, type ResolvedConnector } from '@patchbay/core';
import { Agent, request, type Dispatcher } from 'undici';
import type { ApplyResult, ConnectorInput, HistoryPage, PutResult } from './types';

export interface RegistryClientOptions {
  /** Base URL of the config-registry, e.g. http://127.0.0.1:7100 */
  baseUrl: string;
  /** Bearer token; needs `read`, plus `resolve` to receive credentials, `admin` to write. */
  token: string;
  /** Per-request timeout in ms (default 5000). */
  timeoutMs?: number;
  /** Supplies a W3C `traceparent` to send with each request (e.g. the current span's). */
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

/** A raw exchange for callers that need the status and body as they came (status checks, streams). */
export interface RawRequest {
  method?: 'GET' | 'PUT' | 'POST' | 'DELETE';
  body?: string;
  headers?: Record<string, string>;
  /** Whole-request timeout; 0 = none (streams). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

function isTimeout(error: unknown): boolean {
  const code = (error as { code?: string; name?: string }).code ?? (error as { name?: string }).name;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'TimeoutError';
}

/** Turns a non-2xx answer into a PatchbayError carrying the registry's own code and detail. */
export function problemError(statusCode: number, text: string, what: string): PatchbayError {
  let code: ErrorCode =
    statusCode === 401
      ? ErrorCode.UNAUTHORIZED
      : statusCode === 403
        ? ErrorCode.FORBIDDEN
        : statusCode === 404
          ? ErrorCode.NOT_FOUND
          : ErrorCode.UPSTREAM_ERROR;
  let detail = `${what} answered ${statusCode}`;
  let details: Record<string, unknown> | undefined;
  try {
    const problem = JSON.parse(text) as { code?: string; detail?: string; details?: Record<string, unknown> };
    if (problem.code && ERROR_CODES.has(problem.code)) code = problem.code as ErrorCode;
    if (problem.detail) detail = problem.detail;
    // The problem's own details (e.g. `issues`: [{path, message}] of a validation error).
    if (problem.details && typeof problem.details === 'object') details = { ...problem.details, status: statusCode };
  } catch {
    // not a problem document; keep the generic message
  }
  return new PatchbayError(code, detail, { details: details ?? { status: statusCode } });
}

/**
 * An HTTP client for the config-registry API. Every failure is a PatchbayError:
 * the registry's own problem code when it answered, UPSTREAM_UNAVAILABLE when it could
 * not be reached, TIMEOUT when it did not answer in time.
 */
export class RegistryClient implements RegistryReader {
  readonly baseUrl: string;
  private readonly timeoutMs: number;

  /** Keep-alive connections to the registry (undici: far cheaper per call than fetch). */
  private readonly agent = new Agent({ keepAliveTimeout: 30_000, connections: 16 });

  constructor(private readonly options: RegistryClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Lists connectors, optionally of one type, with the head revision of that snapshot. */
  async list(type?: ConnectorType): Promise<ConnectorList> {
    return this.json<ConnectorList>(`/v1/connectors${type ? `?type=${type}` : ''}`);
  }

  /** Reads one connector; undefined when it does not exist. */
  async get(configId: string): Promise<Connector | undefined> {
    return this.orUndefined(this.json<Connector>(`/v1/connectors/${encodeURIComponent(configId)}`));
  }

  /** Resolves a connector (credentials included when the token has `resolve`); undefined when absent. */
  async resolve(configId: string): Promise<ResolvedConnector | undefined> {
    return this.orUndefined(this.json<ResolvedConnector>(`/v1/connectors/${encodeURIComponent(configId)}/resolve`));
  }

  /** Changes after `since` (exclusive), oldest first. */
  async changes(since: number, limit = 500): Promise<ChangesPage> {
    return this.json<ChangesPage>(`/v1/changes?since=${since}&limit=${limit}`);
  }

  /** Creates or replaces a connector; `ifMatch` = the revision it must have (0 = must not exist). */
  async put(configId: string, body: ConnectorInput, options: { ifMatch?: number } = {}): Promise<PutResult> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.ifMatch !== undefined) headers['if-match'] = `"${options.ifMatch}"`;
    return this.json<PutResult>(`/v1/connectors/${encodeURIComponent(configId)}`, { method: 'PUT', body: JSON.stringify(body), headers });
  }

  /** Deletes a connector (recorded as a revision; rollback restores it). */
  async delete(configId: string): Promise<{ configId: string; revision: number }> {
    return this.json(`/v1/connectors/${encodeURIComponent(configId)}`, { method: 'DELETE' });
  }

  /** Revisions of a connector, newest first. */
  async history(configId: string, options: { limit?: number; before?: number } = {}): Promise<HistoryPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.before !== undefined) query.set('before', String(options.before));
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    return this.json<HistoryPage>(`/v1/connectors/${encodeURIComponent(configId)}/history${suffix}`);
  }

  /** Writes a new revision copying `revision` of the connector. */
  async rollback(configId: string, revision: number): Promise<PutResult> {
    return this.json<PutResult>(`/v1/connectors/${encodeURIComponent(configId)}/rollback`, {
      method: 'POST',
      body: JSON.stringify({ revision }),
      headers: { 'content-type': 'application/json' },
    });
  }

  /**
   * Applies a document of many connectors atomically: YAML text or the parsed JSON document.
   * With `dryRun` the registry validates it and reports what would change, writing nothing.
   */
  async apply(document: string | { connectors: unknown }, options: { prune?: boolean; dryRun?: boolean } = {}): Promise<ApplyResult> {
    const yaml = typeof document === 'string';
    const query = new URLSearchParams();
    if (options.prune) query.set('prune', 'true');
    if (options.dryRun) query.set('dryRun', 'true');
    const search = query.size > 0 ? `?${query.toString()}` : '';
    return this.json<ApplyResult>(`/v1/apply${search}`, {
      method: 'POST',
      body: yaml ? document : JSON.stringify(document),
      headers: { 'content-type': yaml ? 'application/yaml' : 'application/json' },
    });
  }

  /** Any JSON route of the registry (e.g. `/v1/fleet`). */
  async json<T>(path: string, init: RawRequest = {}): Promise<T> {
    const { statusCode, text } = await this.raw(path, init);
    if (statusCode >= 300) throw problemError(statusCode, text, 'registry');
    return JSON.parse(text) as T;
  }

  /** One request, answered whatever its status; network failures and timeouts throw. */
  async raw(path: string, init: RawRequest = {}): Promise<{ statusCode: number; text: string; headers: Record<string, string | string[] | undefined> }> {
    const response = await this.open(path, init);
    const timeoutMs = init.timeoutMs ?? this.timeoutMs;
    try {
      return { statusCode: response.statusCode, headers: response.headers, text: await response.body.text() };
    } catch (error) {
      throw this.transportError(error, timeoutMs);
    }
  }

  /** Opens a request and hands back the streaming answer (for SSE). */
  async open(path: string, init: RawRequest = {}): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, accept: 'application/json', ...init.headers };
    const traceparent = this.options.traceparent?.();
    if (traceparent) headers.traceparent = traceparent;
    const timeoutMs = init.timeoutMs ?? this.timeoutMs;
    const signals = [init.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter((s): s is AbortSignal => s !== undefined);
    try {
      return await request(`${this.baseUrl}${path}`, {
        method: init.method ?? 'GET',
        headers,
        body: init.body,
        dispatcher: this.agent,
        headersTimeout: timeoutMs > 0 ? timeoutMs : 0,
        bodyTimeout: timeoutMs > 0 ? timeoutMs : 0,
        signal: signals.length === 0 ? undefined : AbortSignal.any(signals),
      });
    } catch (error) {
      throw this.transportError(error, timeoutMs, init.signal);
    }
  }

  private transportError(error: unknown, timeoutMs: number, signal?: AbortSignal): PatchbayError {
    if (signal?.aborted) return new PatchbayError(ErrorCode.CANCELLED, 'request cancelled', { cause: error });
    if (isTimeout(error) || (error as { name?: string }).name === 'AbortError') {
      return new PatchbayError(ErrorCode.TIMEOUT, `registry did not answer within ${timeoutMs} ms`, { cause: error });
    }
    return new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `registry unreachable at ${this.baseUrl}`, { cause: error });
  }

  private async orUndefined<T>(pending: Promise<T>): Promise<T | undefined> {
    try {
      return await pending;
    } catch (error) {
      if (error instanceof PatchbayError && error.code === ErrorCode.NOT_FOUND) return undefined;
      throw error;
    }
  }

  /** Closes the keep-alive connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }
}
