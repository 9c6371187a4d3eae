import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AnySchema, SchemaOutput } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  LoggingLevelSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  type LoggingLevel,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { CatalogView } from '../curation/catalog-view';
import type { SharedSessionState } from './session-store';
import { relaysFor, type DownstreamPeer, type RelayCapabilities, type UpstreamNotification } from '../upstream/peer-sessions';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const SEVERITY = new Map(LoggingLevelSchema.options.map((level, index) => [level, index]));

/** The lowest (most verbose) of some levels. */
export function lowestLevel(levels: Iterable<LoggingLevel | undefined>): LoggingLevel | undefined {
  let lowest: LoggingLevel | undefined;
  for (const level of levels) if (level && (!lowest || (SEVERITY.get(level) ?? 0) < (SEVERITY.get(lowest) ?? 0))) lowest = level;
  return lowest;
}

/**
 * What one downstream session receives from upstreams beside answers: log messages at the
 * level it set, updates of resources it subscribed to, and (when its client declared
 * sampling, elicitation or roots) the requests upstreams make of it. A client with such
 * capabilities is a {@link DownstreamPeer}: its calls run on upstream sessions of its own.
 */
export class SessionRelay {
  logLevel: LoggingLevel | undefined;
  /** Resource uris this session subscribed to. */
  readonly subscriptions = new Set<string>();
  /** Told when the client set its log level or (un)subscribed, so other replicas learn it. */
  onStateChange: (() => void) | undefined;
  /** The peer's own view, listed on its sessions (dropped whenever a catalog changes). */
  view: Promise<CatalogView> | undefined;
  /** Handlers of this session's requests now running: what upstreams ask goes out with the latest. */
  private readonly running: Extra[] = [];
  private peerValue: DownstreamPeer | undefined;
  /** Requests made of the client that it has not answered yet. */
  private asking = 0;

  constructor(
    readonly key: string,
    private readonly server: Server,
  ) {}

  /** This session as a peer, once its client declared something the broker relays (after initialize). */
  get peer(): DownstreamPeer | undefined {
    if (this.peerValue) return this.peerValue;
    const capabilities = relaysFor(this.server.getClientCapabilities());
    if (!capabilities) return undefined;
    this.peerValue = this.makePeer(capabilities);
    return this.peerValue;
  }

  /** True while this replica waits for the client to answer something it asked. */
  get waiting(): boolean {
    return this.asking > 0;
  }

  /** What other replicas need to filter for this session as this one does. */
  get state(): SharedSessionState {
    return { ...(this.logLevel ? { logLevel: this.logLevel } : {}), subscriptions: [...this.subscriptions] };
  }

  /** Takes over what the client asked for on another replica. */
  restore(state: SharedSessionState | undefined): void {
    const level = LoggingLevelSchema.safeParse(state?.logLevel);
    if (level.success) this.logLevel = level.data;
    for (const uri of state?.subscriptions ?? []) if (typeof uri === 'string') this.subscriptions.add(uri);
  }

  /** Marks a request handler as running until the returned function is called. */
  track(extra: Extra): () => void {
    this.running.push(extra);
    return () => {
      const index = this.running.indexOf(extra);
      if (index >= 0) this.running.splice(index, 1);
    };
  }

  /** Delivers what an upstream sent, if this session asked for it; log messages name their server. */
  deliver(serverId: string, notification: UpstreamNotification): void {
    if (notification.method === 'notifications/message') {
      const parsed = LoggingMessageNotificationSchema.safeParse(notification);
      if (!parsed.success || !this.logLevel) return;
      const { level, logger } = parsed.data.params;
      if ((SEVERITY.get(level) ?? 0) < (SEVERITY.get(this.logLevel) ?? 0)) return;
      this.send({ ...parsed.data, params: { ...parsed.data.params, logger: logger ? `${serverId}/${logger}` : serverId } });
      return;
    }
    const parsed = ResourceUpdatedNotificationSchema.safeParse(notification);
    if (parsed.success && this.subscriptions.has(parsed.data.params.uri)) this.send(parsed.data);
  }

  /** Sends on the stream of the latest running request (clients read those), else the session's own stream. */
  private send(notification: ServerNotification): void {
    const extra = this.running.at(-1);
    const sent = extra ? extra.sendNotification(notification) : this.server.notification(notification);
    void sent.catch(() => undefined);
  }

  private makePeer(capabilities: RelayCapabilities): DownstreamPeer {
    return {
      key: this.key,
      capabilities,
      logLevel: () => this.logLevel,
      request: async <S extends AnySchema>(request: ServerRequest, schema: S, signal: AbortSignal): Promise<SchemaOutput<S>> => {
        const extra = this.running.at(-1);
        this.asking++;
        try {
          return await (extra ? extra.sendRequest(request, schema, { signal }) : this.server.request(request, schema, { signal }));
        } finally {
          this.asking--;
        }
      },
      notify: (serverId, notification) => this.deliver(serverId, notification),
    };
  }
}
