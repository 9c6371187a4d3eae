import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  CreateMessageResultSchema,
  ElicitRequestSchema,
  ElicitResultSchema,
  ListRootsRequestSchema,
  ListRootsResultSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  type ClientCapabilities,
  type LoggingLevel,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { AnySchema, SchemaOutput } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import { EMPTY_CATALOG, ServerCatalog, type Catalog } from './catalog';
import { closeSession, closeWhenIdle, type OpenOptions, type UpstreamSession } from './upstream-session';

/** What of a downstream client's capabilities the broker relays: requests servers make of clients. */
export type RelayCapabilities = Pick<ClientCapabilities, 'sampling' | 'elicitation' | 'roots'>;

/** A server-to-client message an upstream sent on a session of one downstream client. */
export interface UpstreamNotification {
  method: 'notifications/message' | 'notifications/resources/updated';
  params: Record<string, unknown>;
}

/**
 * One downstream client that can answer what servers ask of clients (sampling, elicitation,
 * roots). Its calls get upstream sessions of their own, opened with exactly its capabilities,
 * so what an upstream asks on them reaches this client and no other.
 */
export interface DownstreamPeer {
  /** The downstream session's id: one upstream session per server per key. */
  readonly key: string;
  readonly capabilities: RelayCapabilities;
  /** The level this client asked for with logging/setLevel, applied to its new upstream sessions. */
  logLevel(): LoggingLevel | undefined;
  /** Sends a request an upstream made (on this client's session) to the client; resolves with its answer, checked by `schema`. */
  request<S extends AnySchema>(request: ServerRequest, schema: S, signal: AbortSignal): Promise<SchemaOutput<S>>;
  /** Delivers a log message or resource update an upstream sent on this client's session. */
  notify(serverId: string, notification: UpstreamNotification): void;
}

/** True when the client declared something the broker relays (else it shares the pool). */
export function relaysFor(capabilities: ClientCapabilities | undefined): RelayCapabilities | undefined {
  if (!capabilities) return undefined;
  const relay: RelayCapabilities = {};
  if (capabilities.sampling) relay.sampling = capabilities.sampling;
  if (capabilities.elicitation) relay.elicitation = capabilities.elicitation;
  if (capabilities.roots) relay.roots = capabilities.roots;
  return Object.keys(relay).length > 0 ? relay : undefined;
}

interface PeerEntry {
  session: Promise<UpstreamSession>;
  catalog: ServerCatalog;
  /** The peer's latest form: a session served request by request (adopted from another replica) brings a new one each time. */
  latest: { peer: DownstreamPeer };
}

export interface PeerSessionsOptions {
  serverId: string;
  open(options: Pick<OpenOptions, 'capabilities' | 'prepare'>): Promise<UpstreamSession>;
  listTimeoutMs: number;
  drainMs: number;
  /** A peer's own catalog changed (listed, or re-listed on its list_changed). */
  onCatalog(key: string): void;
}

/**
 * The upstream sessions of one server opened for downstream peers, one per peer: the
 * server sees the peer's capabilities (and may list tools only such clients get), and
 * everything it asks or notifies on it goes to that peer.
 */
export class PeerSessions {
  private readonly entries = new Map<string, PeerEntry>();

  constructor(private readonly options: PeerSessionsOptions) {}

  get size(): number {
    return this.entries.size;
  }

  /** The peer's session, opened (and its catalog listed) on first use. */
  acquire(peer: DownstreamPeer): Promise<UpstreamSession> {
    const existing = this.entries.get(peer.key);
    if (existing) {
      existing.latest.peer = peer;
      return existing.session.then((session) => {
        if (!session.closed) return session;
        if (this.entries.get(peer.key) === existing) this.entries.delete(peer.key);
        return this.acquire(peer);
      });
    }
    const catalog = new ServerCatalog(this.options.listTimeoutMs, () => this.options.onCatalog(peer.key));
    const latest = { peer };
    const session = this.open(latest, catalog);
    const entry: PeerEntry = { session, catalog, latest };
    this.entries.set(peer.key, entry);
    session.catch(() => {
      if (this.entries.get(peer.key) === entry) this.entries.delete(peer.key);
    });
    return session;
  }

  /** What the server offers this peer (opening its session first). */
  async catalog(peer: DownstreamPeer): Promise<Catalog> {
    await this.acquire(peer);
    return this.entries.get(peer.key)?.catalog.current ?? EMPTY_CATALOG;
  }

  /** Replaces a session the upstream forgot (HTTP upstream restarted). */
  renew(peer: DownstreamPeer, stale: UpstreamSession): Promise<UpstreamSession> {
    const entry = this.entries.get(peer.key);
    if (entry) {
      void entry.session.then((s) => (s === stale ? closeSession(s) : undefined)).catch(() => undefined);
      this.entries.delete(peer.key);
    }
    return this.acquire(peer);
  }

  /** Sets the log level on the peer's open session, if any. */
  async setLogLevel(key: string, level: LoggingLevel): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    const session = await entry.session;
    if (session.client.getServerCapabilities()?.logging) await session.client.setLoggingLevel(level);
  }

  /** A session ended by itself: forget it (the next call opens another). */
  lost(session: UpstreamSession): void {
    for (const [key, entry] of this.entries) {
      void entry.session.then((s) => (s === session && this.entries.get(key) === entry ? this.entries.delete(key) : undefined)).catch(() => undefined);
    }
  }

  /** The downstream session ended: its upstream sessions close once their calls finished. */
  release(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    void entry.session.then((s) => closeWhenIdle(s, this.options.drainMs)).catch(() => undefined);
  }

  async close(drainMs?: number): Promise<void> {
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(entries.map((e) => e.session.then((s) => (drainMs === undefined ? closeSession(s) : closeWhenIdle(s, drainMs))).catch(() => undefined)));
  }

  private async open(latest: { peer: DownstreamPeer }, catalog: ServerCatalog): Promise<UpstreamSession> {
    const { peer } = latest;
    const serverId = this.options.serverId;
    const session = await this.options.open({
      capabilities: { ...peer.capabilities },
      prepare: (client) => relayTo(client, () => latest.peer, serverId),
    });
    try {
      await catalog.refresh(session.client);
      catalog.watch(session.client);
      const level = peer.logLevel();
      if (level && session.client.getServerCapabilities()?.logging) await session.client.setLoggingLevel(level);
    } catch (error) {
      await closeSession(session);
      throw error;
    }
    return session;
  }
}

/** Hands what the upstream asks and notifies on a peer's session to that peer. */
function relayTo(client: Client, peerOf: () => DownstreamPeer, serverId: string): void {
  const { capabilities } = peerOf();
  if (capabilities.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, (request, extra) => peerOf().request(request, CreateMessageResultSchema, extra.signal));
  }
  if (capabilities.elicitation) client.setRequestHandler(ElicitRequestSchema, (request, extra) => peerOf().request(request, ElicitResultSchema, extra.signal));
  if (capabilities.roots) client.setRequestHandler(ListRootsRequestSchema, (request, extra) => peerOf().request(request, ListRootsResultSchema, extra.signal));
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => peerOf().notify(serverId, { method: 'notifications/message', params: n.params }));
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) =>
    peerOf().notify(serverId, { method: 'notifications/resources/updated', params: n.params }),
  );
}
