import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { ServerSpec } from './server-spec';
import { isSessionExpired } from './upstream-errors';
import { closeSession, closeWhenIdle, type UpstreamSession } from './upstream-session';

/**
 * The sessions of one connection to an upstream server, behind one interface whatever the
 * lifecycle: a shared persistent pool, a fresh session per call, or (stateful servers) one
 * session bound to each downstream session. A pool belongs to one connection attempt:
 * a reconnect builds a new pool, so nothing of a lost connection leaks into the next.
 */
export interface SessionPool {
  /**
   * Opens what the strategy keeps open and runs `first` on one session (listing the
   * catalog). Closes everything it opened when any step fails.
   */
  connect(first: (session: UpstreamSession) => Promise<void>): Promise<void>;
  /** A session for one call; `sessionKey` names the downstream session (stateful servers). */
  acquire(sessionKey?: string): Promise<UpstreamSession>;
  /** Gives back a session after its call. */
  done(session: UpstreamSession): void;
  /** Replaces a session the upstream forgot (it restarted); concurrent callers share the replacement. */
  renew(stale: UpstreamSession, sessionKey?: string): Promise<UpstreamSession>;
  /** Checks the upstream answers `ping` on what the pool keeps open. */
  probe(ping: (client: Client) => Promise<void>): Promise<void>;
  /** Closes the bound session of a downstream session that ended. */
  release(sessionKey: string): void;
  /** A session ended by itself. True when that means the connection is lost (not one call's or one downstream session's). */
  lost(session: UpstreamSession): boolean;
  /** The shared sessions kept open (their pids and transport show in status). */
  readonly shared: readonly UpstreamSession[];
  /** Open sessions, bound ones included. */
  readonly size: number;
  /** Closes every session: at once, or after its calls finished (at most `drainMs`). */
  close(drainMs?: number): Promise<void>;
}

export interface PoolOptions {
  /** The server's id, for errors. */
  id: string;
  open(): Promise<UpstreamSession>;
  /** How long a released bound session may finish its calls. */
  drainMs: number;
  /** Called for each shared session whose `list_changed` notifications should refresh the catalog. */
  watch(session: UpstreamSession): void;
}

/** The one choice of strategy, made when a connection starts. */
export function createSessionPool(spec: ServerSpec, options: PoolOptions): SessionPool {
  if (spec.lifecycle === 'per-call') return new PerCallSessions(options);
  if (spec.stateful) return new StatefulSessions(spec.poolSize, options);
  return new SharedSessions(spec.poolSize, options);
}

/** Every call opens its own session and closes it afterwards; nothing is kept. */
class PerCallSessions implements SessionPool {
  readonly shared: readonly UpstreamSession[] = [];
  readonly size = 0;

  constructor(private readonly options: PoolOptions) {}

  async connect(first: (session: UpstreamSession) => Promise<void>): Promise<void> {
    const session = await this.options.open();
    try {
      await first(session);
    } finally {
      void closeSession(session);
    }
  }

  acquire(): Promise<UpstreamSession> {
    return this.options.open();
  }

  done(session: UpstreamSession): void {
    void closeSession(session);
  }

  renew(stale: UpstreamSession): Promise<UpstreamSession> {
    void closeSession(stale);
    return this.options.open();
  }

  async probe(ping: (client: Client) => Promise<void>): Promise<void> {
    const session = await this.options.open();
    try {
      await ping(session.client);
    } finally {
      void closeSession(session);
    }
  }

  release(): void {}

  lost(): boolean {
    return false;
  }

  async close(): Promise<void> {}
}

/** `poolSize` sessions opened up front and shared by every call, least busy first. */
class SharedSessions implements SessionPool {
  protected sessions: UpstreamSession[] = [];
  private readonly renewing = new Map<UpstreamSession, Promise<UpstreamSession>>();
  private cursor = 0;

  constructor(
    private readonly poolSize: number,
    protected readonly options: PoolOptions,
  ) {}

  get shared(): readonly UpstreamSession[] {
    return this.sessions;
  }

  get size(): number {
    return this.sessions.length;
  }

  async connect(first: (session: UpstreamSession) => Promise<void>): Promise<void> {
    const results = await Promise.allSettled(Array.from({ length: this.poolSize }, () => this.options.open()));
    const opened = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    try {
      if (failed) throw failed.reason;
      const primary = opened[0] as UpstreamSession;
      await first(primary);
      this.sessions = opened;
      this.options.watch(primary);
    } catch (error) {
      await Promise.all(opened.map((s) => closeSession(s)));
      throw error;
    }
  }

  acquire(_sessionKey?: string): Promise<UpstreamSession> {
    const sessions = this.sessions;
    if (sessions.length === 0) {
      const message = `MCP server '${this.options.id}' has no open session`;
      return Promise.reject(new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, message, { retryAfterSeconds: 1 }));
    }
    if (sessions.length === 1) return Promise.resolve(sessions[0] as UpstreamSession);
    // Least busy session, starting after the last one picked so ties rotate.
    let best: UpstreamSession | undefined;
    for (let i = 0; i < sessions.length; i++) {
      const candidate = sessions[(this.cursor + i) % sessions.length] as UpstreamSession;
      if (!best || candidate.inFlight < best.inFlight) best = candidate;
    }
    this.cursor = (this.cursor + 1) % sessions.length;
    return Promise.resolve(best as UpstreamSession);
  }

  done(): void {}

  renew(stale: UpstreamSession, sessionKey?: string): Promise<UpstreamSession> {
    let pending = this.renewing.get(stale);
    if (!pending) {
      pending = (async () => {
        void closeSession(stale);
        const fresh = await this.options.open();
        this.replace(stale, fresh, sessionKey);
        return fresh;
      })();
      this.renewing.set(stale, pending);
      void pending.finally(() => this.renewing.delete(stale)).catch(() => undefined);
    }
    return pending;
  }

  async probe(ping: (client: Client) => Promise<void>): Promise<void> {
    await Promise.all(
      this.sessions.map(async (session) => {
        try {
          await ping(session.client);
        } catch (error) {
          // An HTTP upstream that restarted just needs a new session, not a reconnect cycle.
          if (!isSessionExpired(error)) throw error;
          await ping((await this.renew(session)).client);
        }
      }),
    );
  }

  release(_sessionKey: string): void {}

  lost(session: UpstreamSession): boolean {
    return this.sessions.includes(session);
  }

  async close(drainMs?: number): Promise<void> {
    const sessions = this.sessions;
    this.sessions = [];
    await Promise.all(sessions.map((s) => (drainMs === undefined ? closeSession(s) : closeWhenIdle(s, drainMs))));
  }

  protected replace(stale: UpstreamSession, fresh: UpstreamSession, _sessionKey: string | undefined): void {
    const index = this.sessions.indexOf(stale);
    if (index >= 0) this.sessions[index] = fresh;
    else this.sessions.push(fresh);
    this.options.watch(fresh);
  }
}

/**
 * A shared pool, plus one session per downstream session for servers that keep state per
 * client; calls without a downstream session use the shared pool.
 */
class StatefulSessions extends SharedSessions {
  private readonly bound = new Map<string, Promise<UpstreamSession>>();

  override get size(): number {
    return this.sessions.length + this.bound.size;
  }

  override async acquire(sessionKey?: string): Promise<UpstreamSession> {
    if (sessionKey === undefined) return super.acquire();
    let bound = this.bound.get(sessionKey);
    if (!bound) {
      bound = this.options.open();
      this.bound.set(sessionKey, bound);
      bound.catch(() => this.bound.delete(sessionKey));
    }
    const session = await bound;
    if (!session.closed) return session;
    this.bound.delete(sessionKey);
    return this.acquire(sessionKey);
  }

  override release(sessionKey: string): void {
    const bound = this.bound.get(sessionKey);
    if (!bound) return;
    this.bound.delete(sessionKey);
    void bound.then((s) => closeWhenIdle(s, this.options.drainMs)).catch(() => undefined);
  }

  override lost(session: UpstreamSession): boolean {
    for (const [key, bound] of this.bound) {
      void bound.then((s) => (s === session ? this.bound.delete(key) : undefined)).catch(() => undefined);
    }
    return super.lost(session);
  }

  override async close(drainMs?: number): Promise<void> {
    const bound = [...this.bound.values()];
    this.bound.clear();
    await Promise.all([
      super.close(drainMs),
      ...bound.map((p) => p.then((s) => (drainMs === undefined ? closeSession(s) : closeWhenIdle(s, drainMs))).catch(() => undefined)),
    ]);
  }

  protected override replace(stale: UpstreamSession, fresh: UpstreamSession, sessionKey: string | undefined): void {
    if (sessionKey !== undefined && this.bound.has(sessionKey)) this.bound.set(sessionKey, Promise.resolve(fresh));
    else super.replace(stale, fresh, sessionKey);
  }
}
