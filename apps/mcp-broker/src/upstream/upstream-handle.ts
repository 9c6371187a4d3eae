import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { ErrorCode as RpcCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { ANY_RESULT, ServerCatalog } from './catalog';
import type { ServerSpec } from './server-spec';
import { createSessionPool, type SessionPool } from './session-pool';
import { isSessionExpired, toUpstreamError } from './upstream-errors';
import { openSession, type UpstreamSession } from './upstream-session';

export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
  /** Downstream session, for servers marked `stateful`. */
  sessionKey?: string;
}

export interface HandleOptions {
  connectTimeoutMs: number;
  healthTimeoutMs: number;
  /** How long a released bound session may finish its calls. */
  drainMs: number;
  /** The catalog changed (listed, or re-listed on `list_changed`). */
  onCatalog(handle: UpstreamHandle): void;
  /** A session the connection depends on ended by itself (process exit, dropped stream). */
  onLost(handle: UpstreamHandle, reason: string): void;
}

/** The SDK's "no timeout": its default would cut long tool calls at 60 s. */
const NO_TIMEOUT = 2_147_483_647;
const STDERR_LINES_KEPT = 10;
const STDERR_LINE_CHARS = 500;
/** Lines of stderr quoted in an error: enough to show why a process died, short enough to read. */
const STDERR_LINES_QUOTED = 3;

/**
 * One live connection to an upstream MCP server, as the broker runtime holds it: its
 * session pool (strategy chosen by the spec), the catalog listed on it, and the call path
 * (one retry on a fresh session when an HTTP upstream forgot ours).
 */
export class UpstreamHandle {
  readonly catalog: ServerCatalog;
  readonly pool: SessionPool;
  private readonly stderrTail: string[] = [];

  private constructor(
    readonly spec: ServerSpec,
    private readonly options: HandleOptions,
  ) {
    this.catalog = new ServerCatalog(options.connectTimeoutMs, () => options.onCatalog(this));
    this.pool = createSessionPool(spec, {
      id: spec.id,
      drainMs: options.drainMs,
      open: () =>
        openSession(spec, {
          connectTimeoutMs: options.connectTimeoutMs,
          onStderr: (line) => this.stderr(line),
          onLost: (session, reason) => this.lost(session, reason),
        }),
      watch: (session) => this.catalog.watch(session.client),
    });
  }

  /**
   * Opens the pool's sessions and lists the catalog on the first.
   * @throws the connect error, with the last lines of a stdio server's stderr appended.
   */
  static async open(spec: ServerSpec, options: HandleOptions): Promise<UpstreamHandle> {
    const handle = new UpstreamHandle(spec, options);
    try {
      await handle.pool.connect((session) => handle.catalog.refresh(session.client));
    } catch (error) {
      throw new Error(handle.withStderr(error instanceof Error ? error.message : String(error)), { cause: error });
    }
    return handle;
  }

  /** Sends one request on a session of the pool; every error comes back as a PatchbayError. */
  async request(method: string, params: Record<string, unknown>, options: CallOptions): Promise<unknown> {
    const id = this.spec.id;
    const pool = this.pool;
    const session = await pool.acquire(options.sessionKey).catch((error: unknown) => {
      throw toUpstreamError(error, id, options.signal);
    });
    try {
      return await this.send(session, method, params, options);
    } catch (error) {
      if (!isSessionExpired(error)) throw toUpstreamError(error, id, options.signal);
      // The HTTP upstream restarted and forgot our session: a fresh one, one retry.
      const fresh = await pool.renew(session, options.sessionKey).catch((renewError: unknown) => {
        throw toUpstreamError(renewError, id, options.signal);
      });
      try {
        return await this.send(fresh, method, params, options);
      } catch (retryError) {
        throw toUpstreamError(retryError, id, options.signal);
      } finally {
        pool.done(fresh);
      }
    } finally {
      pool.done(session);
    }
  }

  /** `ping` on what the pool keeps open (`tools/list` for servers without ping). */
  probe(): Promise<void> {
    return this.pool.probe((client) => this.ping(client));
  }

  /** Closes every session: at once, or after its calls finished (at most `drainMs`). */
  close(drainMs?: number): Promise<void> {
    return this.pool.close(drainMs);
  }

  private async send(session: UpstreamSession, method: string, params: Record<string, unknown>, options: CallOptions): Promise<unknown> {
    const requestOptions: RequestOptions = { timeout: this.spec.timeoutMs > 0 ? this.spec.timeoutMs : NO_TIMEOUT };
    if (options.signal) requestOptions.signal = options.signal;
    if (options.onProgress) requestOptions.onprogress = options.onProgress;
    session.inFlight++;
    try {
      return await session.client.request({ method, params }, ANY_RESULT, requestOptions);
    } finally {
      session.inFlight--;
    }
  }

  private async ping(client: Client): Promise<void> {
    const options = { timeout: this.options.healthTimeoutMs };
    try {
      await client.ping(options);
    } catch (error) {
      if (error instanceof McpError && error.code === Number(RpcCode.MethodNotFound)) {
        await client.request({ method: 'tools/list', params: {} }, ANY_RESULT, options);
        return;
      }
      throw error;
    }
  }

  private lost(session: UpstreamSession, reason: string): void {
    if (this.pool.lost(session)) this.options.onLost(this, this.withStderr(reason));
  }

  private stderr(line: string): void {
    this.stderrTail.push(line.slice(0, STDERR_LINE_CHARS));
    if (this.stderrTail.length > STDERR_LINES_KEPT) this.stderrTail.shift();
  }

  /** `message`, followed by the last lines the process wrote to stderr (why a stdio server died). */
  private withStderr(message: string): string {
    return this.stderrTail.length ? `${message}; stderr: ${this.stderrTail.slice(-STDERR_LINES_QUOTED).join(' | ')}` : message;
  }
}
