import { EventEmitter } from 'node:events';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { ErrorCode as RpcCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import {
  CircuitBreaker,
  ConnectionState,
  ErrorCode,
  PatchbayError,
  type BreakerStateChange,
  type StateChange,
} from '@patchbay/core';
import { ANY_RESULT, ServerCatalog, type Catalog } from './catalog';
import { ConnectionLifecycle } from './connection-lifecycle';
import { ServerHistory, type ServerStatus } from './server-history';
import type { ServerSpec } from './server-spec';
import { createSessionPool, type SessionPool } from './session-pool';
import { isSessionExpired, isUpstreamFailure, serverUnavailable, toUpstreamError } from './upstream-errors';
import { openSession, type UpstreamSession } from './upstream-session';

/** Timing and limits shared by every upstream server. */
export interface UpstreamSettings {
  connectTimeoutMs: number;
  /** 0 disables health checks. */
  healthIntervalMs: number;
  healthTimeoutMs: number;
  /** Failed connection attempts in a row before the server is `dead`. */
  maxRetries: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Consecutive failed calls that open the breaker. */
  breakerFailures: number;
  breakerRecoveryMs: number;
  /** How long a swapped-out or removed server may finish its calls. */
  drainTimeoutMs: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
  /** Downstream session, for servers marked `stateful`. */
  sessionKey?: string;
}

export interface UpstreamServerEvents {
  state: [change: StateChange];
  breaker: [change: BreakerStateChange];
  catalog: [];
}

/** The SDK's "no timeout": its default would cut long tool calls at 60 s. */
const NO_TIMEOUT = 2_147_483_647;

/**
 * One upstream MCP server: its calls (through the breaker, onto a session of the pool)
 * and its status. The pool strategy, the catalog, the connection lifecycle and the
 * status history are each their own class; this one wires them together.
 */
export class UpstreamServer extends EventEmitter<UpstreamServerEvents> {
  readonly breaker: CircuitBreaker;
  private readonly lifecycle: ConnectionLifecycle<SessionPool>;
  private readonly history = new ServerHistory();
  private readonly catalogs: ServerCatalog;
  /** The sessions of the connection in service. */
  private pool: SessionPool | undefined;

  constructor(
    readonly spec: ServerSpec,
    private readonly settings: UpstreamSettings,
  ) {
    super();
    this.breaker = new CircuitBreaker({
      name: spec.id,
      kind: 'mcp-server',
      consecutiveFailures: settings.breakerFailures,
      recoveryTimeoutMs: settings.breakerRecoveryMs,
      isFailure: isUpstreamFailure,
    });
    this.breaker.onStateChange((change) => this.emit('breaker', change));
    this.catalogs = new ServerCatalog(settings.connectTimeoutMs, () => this.emit('catalog'));
    this.lifecycle = new ConnectionLifecycle<SessionPool>(
      {
        open: () => this.connect(),
        adopt: (pool) => {
          this.pool = pool;
        },
        discard: (pool) => {
          if (this.pool === pool) this.pool = undefined;
          return pool.close();
        },
        current: () => this.pool,
        probe: (pool) => pool.probe((client) => this.ping(client)),
        gaveUp: () => this.catalogs.clear(),
      },
      this.breaker,
      this.history,
      settings,
    );
    this.lifecycle.machine.onChange((change) => {
      this.history.record(change);
      this.emit('state', change);
    });
  }

  get id(): string {
    return this.spec.id;
  }

  get machine(): ConnectionLifecycle<SessionPool>['machine'] {
    return this.lifecycle.machine;
  }

  get state(): ConnectionState {
    return this.lifecycle.state;
  }

  get catalog(): Catalog {
    return this.catalogs.current;
  }

  /** Starts connecting in the background. */
  start(): void {
    this.lifecycle.start();
  }

  /** Resolves once the server is active, dead or closed (or after `timeoutMs`, when given). */
  settled(timeoutMs?: number): Promise<ConnectionState> {
    const done = (s: ConnectionState): boolean => s === ConnectionState.ACTIVE || s === ConnectionState.DEAD || s === ConnectionState.CLOSED;
    if (done(this.state)) return Promise.resolve(this.state);
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => finish(), timeoutMs);
      const finish = (): void => {
        if (timer) clearTimeout(timer);
        this.off('state', onState);
        resolve(this.state);
      };
      const onState = (change: StateChange): void => {
        if (done(change.to)) finish();
      };
      this.on('state', onState);
    });
  }

  /** Drops every session and connects again (also revives a dead server). */
  restart(reason = 'restart requested'): Promise<void> {
    return this.lifecycle.restart(reason);
  }

  /** Calls an upstream tool by its upstream name. */
  callTool(name: string, args: Record<string, unknown> | undefined, options: CallOptions = {}): Promise<unknown> {
    const params: Record<string, unknown> = { name };
    if (args !== undefined) params.arguments = args;
    return this.request('tools/call', params, options);
  }

  readResource(uri: string, options: CallOptions = {}): Promise<unknown> {
    return this.request('resources/read', { uri }, options);
  }

  getPrompt(name: string, args: Record<string, string> | undefined, options: CallOptions = {}): Promise<unknown> {
    const params: Record<string, unknown> = { name };
    if (args !== undefined) params.arguments = args;
    return this.request('prompts/get', params, options);
  }

  /** Closes the bound upstream session of a downstream session that ended. */
  release(sessionKey: string): void {
    this.pool?.release(sessionKey);
  }

  /** Stops for good: lets calls in flight finish (bounded), then closes every session. */
  async close(): Promise<void> {
    if (this.lifecycle.closed) return;
    this.lifecycle.close();
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close(this.settings.drainTimeoutMs);
    this.breaker.forceClose();
  }

  status(): ServerStatus {
    const shared = this.pool?.shared ?? [];
    const catalog = this.catalogs.current;
    return {
      id: this.spec.id,
      configId: this.spec.configId,
      revision: this.spec.revision,
      state: this.state,
      breaker: this.breaker.state,
      transport: shared[0]?.transportUsed ?? this.spec.transport,
      lifecycle: this.spec.lifecycle,
      pool: this.spec.poolSize,
      stateful: this.spec.stateful,
      sessions: this.pool?.size ?? 0,
      pids: shared.map((s) => s.pid).filter((p): p is number => p !== undefined),
      tools: catalog.tools.length,
      resources: catalog.resources.length + catalog.resourceTemplates.length,
      prompts: catalog.prompts.length,
      restarts: this.history.restarts,
      lastError: this.history.lastError,
      since: this.history.since.toISOString(),
      transitions: this.history.transitions,
    };
  }

  private request(method: string, params: Record<string, unknown>, options: CallOptions): Promise<unknown> {
    if (this.state !== ConnectionState.ACTIVE) return Promise.reject(serverUnavailable(this.id, this.state));
    return this.breaker.execute(async () => {
      const pool = this.pool;
      if (!pool) throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `MCP server '${this.id}' has no open session`, { retryAfterSeconds: 1 });
      const session = await pool.acquire(options.sessionKey).catch((error: unknown) => {
        throw toUpstreamError(error, this.id, options.signal);
      });
      try {
        return await this.send(session, method, params, options);
      } catch (error) {
        if (!isSessionExpired(error)) throw toUpstreamError(error, this.id, options.signal);
        // The HTTP upstream restarted and forgot our session: a fresh one, one retry.
        const fresh = await pool.renew(session, options.sessionKey).catch((renewError: unknown) => {
          throw toUpstreamError(renewError, this.id, options.signal);
        });
        try {
          return await this.send(fresh, method, params, options);
        } catch (retryError) {
          throw toUpstreamError(retryError, this.id, options.signal);
        } finally {
          pool.done(fresh);
        }
      } finally {
        pool.done(session);
      }
    });
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

  /** A new pool of sessions, connected, with the catalog listed on its first session. */
  private async connect(): Promise<SessionPool> {
    const pool: SessionPool = createSessionPool(this.spec, {
      id: this.id,
      drainMs: this.settings.drainTimeoutMs,
      open: () =>
        openSession(this.spec, {
          connectTimeoutMs: this.settings.connectTimeoutMs,
          onStderr: (line) => this.history.stderr(line),
          onLost: (session, reason) => this.onSessionLost(pool, session, reason),
        }),
      watch: (session) => this.catalogs.watch(session.client),
    });
    await pool.connect((session) => this.catalogs.refresh(session.client));
    return pool;
  }

  private onSessionLost(pool: SessionPool, session: UpstreamSession, reason: string): void {
    if (this.lifecycle.closed) return;
    if (!pool.lost(session) || pool !== this.pool) return;
    void this.lifecycle.lost(this.history.withStderr(reason));
  }

  /** `ping`, or `tools/list` for servers that don't implement ping. */
  private async ping(client: Client): Promise<void> {
    const options = { timeout: this.settings.healthTimeoutMs };
    try {
      await client.ping(options);
    } catch (error) {
      if (error instanceof McpError && error.code === RpcCode.MethodNotFound) {
        await client.request({ method: 'tools/list', params: {} }, ANY_RESULT, options);
        return;
      }
      throw error;
    }
  }
}
