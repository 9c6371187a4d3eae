import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ErrorCode as RpcCode,
  McpError,
  type LoggingLevel,
} from '@modelcontextprotocol/sdk/types.js';
import { ANY_RESULT, ServerCatalog } from './catalog';
import type { ServerSpec } from './server-spec';
import { createSessionPool, type SessionPool } from './session-pool';
import { isSessionExpired, toUpstreamError } from './upstream-errors';
import { PeerSessions, type DownstreamPeer, type UpstreamNotification } from './peer-sessions';
import { openSession, type OpenOptions, type UpstreamSession } from './upstream-session';

export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
  /** Downstream session, for servers marked `stateful`. */
  sessionKey?: string;
  /** A downstream client that answers server-to-client requests: the call runs on its own upstream session. */
  peer?: DownstreamPeer;
  /** The caller's own `Authorization` header, for calls served by another Patchbay service (database tools): its scopes and allow-lists apply there too. */
  authorization?: string;
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
  /** A log message or resource update on a shared session (not one of a peer's). */
  onNotification(handle: UpstreamHandle, notification: UpstreamNotification): void;
  /** A peer's own catalog of this server changed. */
  onPeerCatalog(handle: UpstreamHandle, key: string): void;
  /** The level downstream clients asked for (the lowest), applied to new shared sessions. */
  logLevel(): LoggingLevel | undefined;
}

/** Progress tokens the broker sends upstream (unique per process, so per session too). */
let progressTokens = 0;
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
  readonly peers: PeerSessions;
  private readonly stderrTail: string[] = [];

  private constructor(
    readonly spec: ServerSpec,
    private readonly options: HandleOptions,
  ) {
    this.catalog = new ServerCatalog(options.connectTimeoutMs, () => options.onCatalog(this));
    const open = (extra: Pick<OpenOptions, 'capabilities' | 'prepare'>): Promise<UpstreamSession> =>
      openSession(spec, {
        connectTimeoutMs: options.connectTimeoutMs,
        onStderr: (line) => this.stderr(line),
        onLost: (session, reason) => this.lost(session, reason),
        ...extra,
      });
    this.pool = createSessionPool(spec, {
      id: spec.id,
      drainMs: options.drainMs,
      open: () => open({ prepare: (client) => this.relayShared(client) }).then((session) => this.applyLogLevel(session)),
      watch: (session) => this.catalog.watch(session.client),
    });
    this.peers = new PeerSessions({
      serverId: spec.id,
      open,
      listTimeoutMs: options.connectTimeoutMs,
      drainMs: options.drainMs,
      onCatalog: (key) => options.onPeerCatalog(this, key),
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
    const peer = options.peer;
    if (peer) return this.requestAsPeer(peer, method, params, options);
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

  /** Sets the level on every shared session of a server that logs. */
  async setLogLevel(level: LoggingLevel): Promise<void> {
    await Promise.all(this.pool.shared.filter((s) => s.client.getServerCapabilities()?.logging).map((s) => s.client.setLoggingLevel(level)));
  }

  /** `ping` on what the pool keeps open (`tools/list` for servers without ping). */
  probe(): Promise<void> {
    return this.pool.probe((client) => this.ping(client));
  }

  /** Closes every session: at once, or after its calls finished (at most `drainMs`). */
  async close(drainMs?: number): Promise<void> {
    await Promise.all([this.pool.close(drainMs), this.peers.close(drainMs)]);
  }

  /** One request on the peer's own session (one retry on a fresh one when an HTTP upstream forgot it). */
  private async requestAsPeer(peer: DownstreamPeer, method: string, params: Record<string, unknown>, options: CallOptions): Promise<unknown> {
    const id = this.spec.id;
    const session = await this.peers.acquire(peer).catch((error: unknown) => {
      throw toUpstreamError(error, id, options.signal);
    });
    try {
      return await this.send(session, method, params, options);
    } catch (error) {
      if (!isSessionExpired(error)) throw toUpstreamError(error, id, options.signal);
      try {
        return await this.send(await this.peers.renew(peer, session), method, params, options);
      } catch (retryError) {
        throw toUpstreamError(retryError, id, options.signal);
      }
    }
  }

  private relayShared(client: Client): void {
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) =>
      this.options.onNotification(this, { method: 'notifications/message', params: n.params }),
    );
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) =>
      this.options.onNotification(this, { method: 'notifications/resources/updated', params: n.params }),
    );
  }

  private async applyLogLevel(session: UpstreamSession): Promise<UpstreamSession> {
    const level = this.options.logLevel();
    if (level && session.client.getServerCapabilities()?.logging) await session.client.setLoggingLevel(level).catch(() => undefined);
    return session;
  }

  private async send(session: UpstreamSession, method: string, params: Record<string, unknown>, options: CallOptions): Promise<unknown> {
    const requestOptions: RequestOptions = { timeout: this.spec.timeoutMs > 0 ? this.spec.timeoutMs : NO_TIMEOUT };
    if (options.signal) requestOptions.signal = options.signal;
    let token: string | undefined;
    let sent = params;
    if (options.onProgress) {
      token = `pb-${++progressTokens}`;
      session.progress.set(token, options.onProgress);
      const meta = typeof params['_meta'] === 'object' && params['_meta'] !== null ? params['_meta'] : {};
      sent = { ...params, _meta: { ...meta, progressToken: token } };
    }
    session.inFlight++;
    try {
      return await session.client.request({ method, params: sent }, ANY_RESULT, requestOptions);
    } finally {
      session.inFlight--;
      if (token !== undefined) session.progress.delete(token);
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
    this.peers.lost(session);
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
