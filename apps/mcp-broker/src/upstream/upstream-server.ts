import { EventEmitter } from 'node:events';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  ErrorCode as RpcCode,
  McpError,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import {
  BreakerState,
  CircuitBreaker,
  ConnectionState,
  ConnectionStateMachine,
  ErrorCode,
  PatchbayError,
  computeBackoff,
  type BreakerStateChange,
  type StateChange,
} from '@patchbay/core';
import { z } from 'zod';
import type { ServerSpec } from './server-spec';
import { isSessionExpired, isUpstreamFailure, serverUnavailable, toUpstreamError } from './upstream-errors';
import { closeSession, openSession, type UpstreamSession } from './upstream-session';

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

/** What an upstream offers, as last listed. */
export interface Catalog {
  tools: Tool[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
  prompts: Prompt[];
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

export interface TransitionRecord {
  from: ConnectionState;
  to: ConnectionState;
  at: string;
  reason?: string;
}

/** What `/v1/servers/:id` shows. */
export interface ServerStatus {
  id: string;
  configId: string;
  revision: number;
  state: ConnectionState;
  breaker: BreakerState;
  transport: ServerSpec['transport'];
  lifecycle: ServerSpec['lifecycle'];
  pool: number;
  stateful: boolean;
  sessions: number;
  pids: number[];
  tools: number;
  resources: number;
  prompts: number;
  restarts: number;
  lastError: string | null;
  since: string;
  transitions: TransitionRecord[];
}

const EMPTY_CATALOG: Catalog = { tools: [], resources: [], resourceTemplates: [], prompts: [] };
/** Results pass through unchanged: the downstream client validates them, not us. */
const ANY_RESULT = z.object({}).passthrough();
const NO_TIMEOUT = 2_147_483_647;
const LIST_PAGES = 50;

/**
 * One upstream MCP server: its sessions (a pool, or one per call), state machine,
 * breaker, health checks, reconnects and catalog.
 *
 * States: `discovered` -> `connecting` -> `active`; a lost session or failed health
 * check -> `retrying` (backoff) -> `connecting` ... -> `dead` after `maxRetries` failed
 * attempts in a row. `restart()` or a config change brings a dead server back.
 */
export class UpstreamServer extends EventEmitter<UpstreamServerEvents> {
  readonly machine = new ConnectionStateMachine();
  readonly breaker: CircuitBreaker;
  private sessions: UpstreamSession[] = [];
  private readonly bound = new Map<string, Promise<UpstreamSession>>();
  private readonly renewing = new Map<UpstreamSession, Promise<UpstreamSession>>();
  private current: Catalog = EMPTY_CATALOG;
  private cursor = 0;
  private restartCount = 0;
  private lastErrorMessage: string | null = null;
  private sinceAt = new Date();
  private readonly history: TransitionRecord[] = [];
  private readonly stderrTail: string[] = [];
  /** Bumped by restart/close: a running connect loop of an older generation stops. */
  private generation = 0;
  private wake: (() => void) | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private closed = false;

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
    this.machine.onChange((change) => {
      this.sinceAt = change.at;
      const record: TransitionRecord = { from: change.from, to: change.to, at: change.at.toISOString() };
      if (change.reason !== undefined) record.reason = change.reason;
      this.history.push(record);
      if (this.history.length > 20) this.history.shift();
      this.emit('state', change);
    });
  }

  get id(): string {
    return this.spec.id;
  }

  get state(): ConnectionState {
    return this.machine.state;
  }

  get catalog(): Catalog {
    return this.current;
  }

  /** Starts connecting in the background. */
  start(): void {
    void this.connectLoop('start');
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
  async restart(reason = 'restart requested'): Promise<void> {
    if (this.closed) return;
    this.restartCount++;
    this.generation++;
    this.wake?.();
    // What the breaker counted belongs to the sessions being dropped.
    this.breaker.reset();
    await this.dropSessions();
    void this.connectLoop(reason);
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
    const bound = this.bound.get(sessionKey);
    if (!bound) return;
    this.bound.delete(sessionKey);
    void bound.then((s) => this.closeWhenIdle(s)).catch(() => undefined);
  }

  /** Stops for good: lets calls in flight finish (bounded), then closes every session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    this.wake?.();
    this.stopHealth();
    this.machine.transition(ConnectionState.CLOSED, 'removed');
    const sessions = [...this.sessions];
    this.sessions = [];
    const bound = [...this.bound.values()];
    this.bound.clear();
    await Promise.all([
      ...sessions.map((s) => this.closeWhenIdle(s)),
      ...bound.map((p) => p.then((s) => this.closeWhenIdle(s)).catch(() => undefined)),
    ]);
    this.breaker.forceClose();
  }

  status(): ServerStatus {
    const pids = this.sessions.map((s) => s.pid).filter((p): p is number => p !== undefined);
    return {
      id: this.spec.id,
      configId: this.spec.configId,
      revision: this.spec.revision,
      state: this.state,
      breaker: this.breaker.state,
      transport: this.sessions[0]?.transportUsed ?? this.spec.transport,
      lifecycle: this.spec.lifecycle,
      pool: this.spec.poolSize,
      stateful: this.spec.stateful,
      sessions: this.sessions.length + this.bound.size,
      pids,
      tools: this.current.tools.length,
      resources: this.current.resources.length + this.current.resourceTemplates.length,
      prompts: this.current.prompts.length,
      restarts: this.restartCount,
      lastError: this.lastErrorMessage,
      since: this.sinceAt.toISOString(),
      transitions: [...this.history],
    };
  }

  // --- calls -------------------------------------------------------------------------

  private async request(method: string, params: Record<string, unknown>, options: CallOptions): Promise<unknown> {
    if (this.state !== ConnectionState.ACTIVE) throw serverUnavailable(this.id, this.state);
    return this.breaker.execute(async () => {
      const session = await this.acquire(options.sessionKey).catch((error: unknown) => {
        throw toUpstreamError(error, this.id, options.signal);
      });
      try {
        return await this.send(session, method, params, options);
      } catch (error) {
        if (!isSessionExpired(error)) throw toUpstreamError(error, this.id, options.signal);
        // The HTTP upstream restarted and forgot our session: a fresh one, one retry.
        const fresh = await this.renew(session, options.sessionKey).catch((renewError: unknown) => {
          throw toUpstreamError(renewError, this.id, options.signal);
        });
        try {
          return await this.send(fresh, method, params, options);
        } catch (retryError) {
          throw toUpstreamError(retryError, this.id, options.signal);
        } finally {
          if (this.spec.lifecycle === 'per-call') void closeSession(fresh);
        }
      } finally {
        if (this.spec.lifecycle === 'per-call') void closeSession(session);
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

  private async acquire(sessionKey: string | undefined): Promise<UpstreamSession> {
    if (this.spec.lifecycle === 'per-call') return this.open();
    if (this.spec.stateful && sessionKey !== undefined) {
      let bound = this.bound.get(sessionKey);
      if (!bound) {
        bound = this.open();
        this.bound.set(sessionKey, bound);
        bound.catch(() => this.bound.delete(sessionKey));
      }
      const session = await bound;
      if (!session.closed) return session;
      this.bound.delete(sessionKey);
      return this.acquire(sessionKey);
    }
    const sessions = this.sessions;
    if (sessions.length === 0) {
      throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, `MCP server '${this.id}' has no open session`, { retryAfterSeconds: 1 });
    }
    if (sessions.length === 1) return sessions[0] as UpstreamSession;
    // Least busy session, starting after the last one picked so ties rotate.
    let best: UpstreamSession | undefined;
    for (let i = 0; i < sessions.length; i++) {
      const candidate = sessions[(this.cursor + i) % sessions.length] as UpstreamSession;
      if (!best || candidate.inFlight < best.inFlight) best = candidate;
    }
    this.cursor = (this.cursor + 1) % sessions.length;
    return best as UpstreamSession;
  }

  /** Replaces a session the upstream forgot; concurrent callers share the replacement. */
  private renew(stale: UpstreamSession, sessionKey: string | undefined): Promise<UpstreamSession> {
    let pending = this.renewing.get(stale);
    if (!pending) {
      pending = (async () => {
        void closeSession(stale);
        const fresh = await this.open();
        if (this.spec.lifecycle === 'persistent') {
          if (this.spec.stateful && sessionKey !== undefined && this.bound.has(sessionKey)) {
            this.bound.set(sessionKey, Promise.resolve(fresh));
          } else {
            const index = this.sessions.indexOf(stale);
            if (index >= 0) this.sessions[index] = fresh;
            else this.sessions.push(fresh);
            this.watchCatalog(fresh.client);
          }
        }
        return fresh;
      })();
      this.renewing.set(stale, pending);
      void pending.finally(() => this.renewing.delete(stale)).catch(() => undefined);
    }
    return pending;
  }

  private open(): Promise<UpstreamSession> {
    return openSession(this.spec, {
      connectTimeoutMs: this.settings.connectTimeoutMs,
      onStderr: (line) => {
        this.stderrTail.push(line.slice(0, 500));
        if (this.stderrTail.length > 10) this.stderrTail.shift();
      },
      onLost: (session, reason) => this.onSessionLost(session, reason),
    });
  }

  private async closeWhenIdle(session: UpstreamSession): Promise<void> {
    const deadline = Date.now() + this.settings.drainTimeoutMs;
    while (session.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await closeSession(session);
  }

  // --- lifecycle ---------------------------------------------------------------------

  private onSessionLost(session: UpstreamSession, reason: string): void {
    if (this.closed) return;
    for (const [key, bound] of this.bound) {
      void bound.then((s) => (s === session ? this.bound.delete(key) : undefined)).catch(() => undefined);
    }
    if (!this.sessions.includes(session)) return;
    const tail = this.stderrTail.length ? `; stderr: ${this.stderrTail.slice(-3).join(' | ')}` : '';
    void this.connectionLost(`${reason}${tail}`);
  }

  private async connectionLost(reason: string): Promise<void> {
    if (this.closed || this.state !== ConnectionState.ACTIVE) return;
    this.lastErrorMessage = reason;
    this.restartCount++;
    this.generation++;
    this.stopHealth();
    this.machine.transition(ConnectionState.RETRYING, reason);
    await this.dropSessions();
    void this.connectLoop(reason, 1);
  }

  private async dropSessions(): Promise<void> {
    const sessions = this.sessions;
    this.sessions = [];
    const bound = [...this.bound.values()];
    this.bound.clear();
    await Promise.all([
      ...sessions.map((s) => closeSession(s)),
      ...bound.map((p) => p.then((s) => closeSession(s)).catch(() => undefined)),
    ]);
  }

  private async connectLoop(reason: string, failuresSoFar = 0): Promise<void> {
    const generation = ++this.generation;
    let failures = failuresSoFar;
    if (failures > 0) await this.sleep(computeBackoff(failures, this.backoff()), generation);
    while (!this.closed && generation === this.generation) {
      this.machine.transition(ConnectionState.CONNECTING, failures === 0 ? reason : `attempt ${failures + 1}`);
      try {
        await this.connectOnce(generation);
        if (generation !== this.generation || this.closed) return;
        // The breaker opened on the connection that was lost; this one just proved itself
        // (connected and listed its catalog), so calls go through at once.
        if (this.breaker.state === BreakerState.OPEN || this.breaker.state === BreakerState.HALF_OPEN) this.breaker.reset();
        this.machine.transition(ConnectionState.ACTIVE);
        this.startHealth();
        return;
      } catch (error) {
        if (generation !== this.generation || this.closed) return;
        failures++;
        const tail = this.stderrTail.length ? `; stderr: ${this.stderrTail.slice(-3).join(' | ')}` : '';
        this.lastErrorMessage = `${error instanceof Error ? error.message : String(error)}${tail}`;
        if (failures > this.settings.maxRetries) {
          this.machine.transition(ConnectionState.DEAD, `gave up after ${failures} failed attempts: ${this.lastErrorMessage}`);
          this.setCatalog(EMPTY_CATALOG);
          return;
        }
        this.machine.transition(ConnectionState.RETRYING, this.lastErrorMessage);
        await this.sleep(computeBackoff(failures, this.backoff()), generation);
      }
    }
  }

  private async connectOnce(generation: number): Promise<void> {
    const count = this.spec.lifecycle === 'per-call' ? 1 : this.spec.poolSize;
    const results = await Promise.allSettled(Array.from({ length: count }, () => this.open()));
    const opened = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed || generation !== this.generation || this.closed) {
      await Promise.all(opened.map((s) => closeSession(s)));
      if (failed) throw failed.reason;
      return;
    }
    const primary = opened[0] as UpstreamSession;
    try {
      this.setCatalog(await this.listCatalog(primary.client));
    } catch (error) {
      await Promise.all(opened.map((s) => closeSession(s)));
      throw error;
    }
    if (this.spec.lifecycle === 'per-call') {
      void closeSession(primary);
      return;
    }
    this.sessions = opened;
    this.watchCatalog(primary.client);
  }

  private watchCatalog(client: Client): void {
    const refresh = (): void => {
      void this.listCatalog(client).then(
        (catalog) => this.setCatalog(catalog),
        () => undefined,
      );
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, refresh);
    client.setNotificationHandler(ResourceListChangedNotificationSchema, refresh);
    client.setNotificationHandler(PromptListChangedNotificationSchema, refresh);
  }

  private async listCatalog(client: Client): Promise<Catalog> {
    const caps = client.getServerCapabilities() ?? {};
    const timeout = this.settings.connectTimeoutMs;
    const all = async <T>(method: string, key: string): Promise<T[]> => {
      const items: T[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < LIST_PAGES; page++) {
        const result = (await client.request({ method, params: cursor ? { cursor } : {} }, ANY_RESULT, { timeout })) as Record<string, unknown>;
        const list = result[key];
        if (Array.isArray(list)) items.push(...(list as T[]));
        cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
        if (!cursor) break;
      }
      return items;
    };
    const [tools, resources, resourceTemplates, prompts] = await Promise.all([
      caps.tools ? all<Tool>('tools/list', 'tools') : Promise.resolve([]),
      caps.resources ? all<Resource>('resources/list', 'resources').catch(() => []) : Promise.resolve([]),
      caps.resources ? all<ResourceTemplate>('resources/templates/list', 'resourceTemplates').catch(() => []) : Promise.resolve([]),
      caps.prompts ? all<Prompt>('prompts/list', 'prompts').catch(() => []) : Promise.resolve([]),
    ]);
    return { tools, resources, resourceTemplates, prompts };
  }

  private setCatalog(catalog: Catalog): void {
    this.current = catalog;
    this.emit('catalog');
  }

  private backoff(): { initialDelayMs: number; maxDelayMs: number; multiplier: number; jitter: 'equal' } {
    return { initialDelayMs: this.settings.retryInitialMs, maxDelayMs: this.settings.retryMaxMs, multiplier: 2, jitter: 'equal' };
  }

  private sleep(ms: number, generation: number): Promise<void> {
    if (generation !== this.generation) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  // --- health ------------------------------------------------------------------------

  private startHealth(): void {
    this.stopHealth();
    if (this.settings.healthIntervalMs <= 0) return;
    this.healthTimer = setInterval(() => void this.checkHealth(), this.settings.healthIntervalMs);
    this.healthTimer.unref();
  }

  private stopHealth(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
  }

  private checkingHealth = false;

  private async checkHealth(): Promise<void> {
    if (this.checkingHealth || this.state !== ConnectionState.ACTIVE) return;
    this.checkingHealth = true;
    const generation = this.generation;
    try {
      if (this.spec.lifecycle === 'per-call') {
        const session = await this.open();
        try {
          await this.ping(session.client);
        } finally {
          void closeSession(session);
        }
      } else {
        await Promise.all(
          this.sessions.map(async (session) => {
            try {
              await this.ping(session.client);
            } catch (error) {
              // An HTTP upstream that restarted just needs a new session, not a reconnect cycle.
              if (!isSessionExpired(error)) throw error;
              await this.ping((await this.renew(session, undefined)).client);
            }
          }),
        );
      }
    } catch (error) {
      if (generation === this.generation) {
        await this.connectionLost(`health check failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    } finally {
      this.checkingHealth = false;
    }
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
