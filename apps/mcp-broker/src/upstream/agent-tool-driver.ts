import { basename } from 'node:path';
import { ErrorCode, isPatchbayError, type ResolvedConnector } from '@patchbay/core';
import type { BrokerDriver, CloseReason, ConnectionSettings, ErrorClass, PlannedConnection } from '@patchbay/nest';
import type { LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamNotification } from './peer-sessions';
import type { ServerPlanner } from './server-planner';
import type { ServerSpec } from './server-spec';
import { UpstreamHandle } from './upstream-handle';

/** Timing and limits shared by every upstream server (the service's settings). */
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

export interface DriverEvents {
  /** The catalog of the handle in service changed (or it left service). */
  catalog(id: string): void;
  /** The handle in service lost its connection; the runtime should reconnect. */
  lost(id: string, error: SessionLostError): void;
  /** A log message or resource update on a shared session of the handle in service. */
  notification(id: string, notification: UpstreamNotification): void;
  /** A downstream peer's own catalog of the server changed. */
  peerCatalog(id: string, key: string): void;
  /** The log level downstream clients asked for (the lowest), for new sessions. */
  logLevel(): LoggingLevel | undefined;
}

export interface ServerDetails {
  /** The transport actually used (`sse` when a streamable-http server only spoke legacy SSE). */
  transport: ServerSpec['transport'];
  lifecycle: ServerSpec['lifecycle'];
  pool: number;
  stateful: boolean;
  sessions: number;
  pids: number[];
  tools: number;
  resources: number;
  prompts: number;
}

/** A session the connection depends on ended by itself: classified `connection` (reconnect). */
export class SessionLostError extends Error {
  override readonly name = 'SessionLostError';
}

/**
 * The `agent_tool` driver: one connection per MCP server (the connector, or each member
 * of an array connector, id = the member id as tool prefix); a handle is a connected
 * session pool with its catalog.
 */
export class AgentToolDriver implements BrokerDriver<ServerSpec, UpstreamHandle> {
  readonly types = ['agent_tool'] as const;
  readonly kind = 'mcp-server';
  /** The handle that last proved itself (opened and probed) per server: the one in service. */
  private readonly serving = new Map<string, UpstreamHandle>();

  constructor(
    private readonly settingsValue: UpstreamSettings,
    private readonly planner: ServerPlanner,
    private readonly events: DriverEvents,
  ) {}

  /** The handle serving a server now, if any. */
  current(id: string): UpstreamHandle | undefined {
    return this.serving.get(id);
  }

  plan(connector: ResolvedConnector): PlannedConnection<ServerSpec>[] {
    // Members merge their options over the connector's, so the spec parses them itself
    // with the same shared schema the registry uses.
    return this.planner.plan(connector).map((spec) => ({ id: spec.id, spec }));
  }

  fingerprint(spec: ServerSpec): string {
    return spec.fingerprint;
  }

  settings(): ConnectionSettings {
    const s = this.settingsValue;
    return {
      breakerFailures: s.breakerFailures,
      breakerRecoveryMs: s.breakerRecoveryMs,
      reconnectInitialMs: s.retryInitialMs,
      reconnectMaxMs: s.retryMaxMs,
      drainTimeoutMs: s.drainTimeoutMs,
      healthIntervalMs: s.healthIntervalMs,
      maxRetries: s.maxRetries,
    };
  }

  open(spec: ServerSpec): Promise<UpstreamHandle> {
    return UpstreamHandle.open(spec, {
      connectTimeoutMs: this.settingsValue.connectTimeoutMs,
      healthTimeoutMs: this.settingsValue.healthTimeoutMs,
      drainMs: this.settingsValue.drainTimeoutMs,
      onCatalog: (handle) => {
        if (this.serving.get(spec.id) === handle) this.events.catalog(spec.id);
      },
      onLost: (handle, reason) => {
        // A swapped-out handle still draining may lose its process: nothing to reconnect.
        if (this.serving.get(spec.id) === handle) this.events.lost(spec.id, new SessionLostError(reason));
      },
      onNotification: (handle, notification) => {
        if (this.serving.get(spec.id) === handle) this.events.notification(spec.id, notification);
      },
      onPeerCatalog: (handle, key) => {
        if (this.serving.get(spec.id) === handle) this.events.peerCatalog(spec.id, key);
      },
      logLevel: () => this.events.logLevel(),
    });
  }

  async probe(handle: UpstreamHandle, spec: ServerSpec): Promise<void> {
    await handle.probe();
    if (this.serving.get(spec.id) === handle) return;
    this.serving.set(spec.id, handle);
    this.events.catalog(spec.id);
  }

  async close(handle: UpstreamHandle, _reason: CloseReason): Promise<void> {
    const id = handle.spec.id;
    if (this.serving.get(id) === handle) {
      this.serving.delete(id);
      this.events.catalog(id);
    }
    // The runtime already let its calls finish (or gave up waiting).
    await handle.close();
  }

  /**
   * Work errors arrive as PatchbayErrors (see toUpstreamError): an unreachable or slow
   * server counts against the breaker, everything else is the caller's or the tool's.
   * Anything else comes from opening or probing: the connection is down.
   */
  classify(error: unknown): ErrorClass {
    if (error instanceof SessionLostError) return 'connection';
    if (!isPatchbayError(error)) return 'connection';
    return error.code === ErrorCode.UPSTREAM_UNAVAILABLE || error.code === ErrorCode.TIMEOUT ? 'failure' : 'caller';
  }

  describe(spec: ServerSpec): string {
    if (spec.transport === 'stdio') return `stdio:${basename(spec.command ?? '')}`;
    const url = new URL(spec.url ?? '');
    // Credentials never show in status.
    return `${spec.transport}:${url.origin}${url.pathname}`;
  }

  details(handle: UpstreamHandle | undefined, spec: ServerSpec): Record<string, unknown> {
    return { ...this.describeHandle(handle, spec) };
  }

  /** The MCP part of a server's status: its sessions and what its catalog holds. */
  describeHandle(handle: UpstreamHandle | undefined, spec: ServerSpec): ServerDetails {
    const shared = handle?.pool.shared ?? [];
    const catalog = handle?.catalog.current;
    return {
      transport: shared[0]?.transportUsed ?? spec.transport,
      lifecycle: spec.lifecycle,
      pool: spec.poolSize,
      stateful: spec.stateful,
      sessions: (handle?.pool.size ?? 0) + (handle?.peers.size ?? 0),
      pids: shared.map((s) => s.pid).filter((p): p is number => p !== undefined),
      tools: catalog?.tools.length ?? 0,
      resources: (catalog?.resources.length ?? 0) + (catalog?.resourceTemplates.length ?? 0),
      prompts: catalog?.prompts.length ?? 0,
    };
  }
}
