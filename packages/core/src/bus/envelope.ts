import { randomUUID } from 'node:crypto';
import type { BreakerState, ConnectionState } from '../state';
import type { ConnectorType } from '../connectors';

/** Versioned event type names. A breaking change to a payload gets a new version. */
export const EventType = {
  CONNECTOR_CHANGED: 'connector.changed.v1',
  CONNECTOR_DELETED: 'connector.deleted.v1',
  BREAKER_CHANGED: 'breaker.changed.v1',
  CONNECTION_STATE: 'connection.state.v1',
  INSTANCE_REPORT: 'instance.report.v1',
} as const;
export type EventTypeName = (typeof EventType)[keyof typeof EventType];

/** Logical bus channels; a transport may prefix them (Redis: `<prefix>events:<channel>`). */
export const Channel = {
  /** Connector changes (notify, then pull). */
  CONFIG: 'config',
  /** Connection and breaker state changes from every service. */
  STATE: 'state',
} as const;
export type ChannelName = (typeof Channel)[keyof typeof Channel];

/** Who sent a message. */
export interface EnvelopeSource {
  service: string;
  instance: string;
}

/** The one envelope for every bus message (ARCHITECTURE.md section 5). */
export interface Envelope<T = unknown> {
  v: 1;
  type: string;
  id: string;
  /** ISO-8601 time of creation. */
  at: string;
  source: EnvelopeSource;
  revision?: number;
  /** W3C trace context of the operation that caused the message. */
  traceparent?: string;
  data: T;
}

/** `connector.changed.v1`: notify only; receivers pull the connector from the registry. */
export interface ConnectorChangedData {
  configId: string;
  type: ConnectorType;
  revision: number;
  checksum: string;
}

/** `connector.deleted.v1`. */
export interface ConnectorDeletedData {
  configId: string;
  type: ConnectorType;
  revision: number;
}

/** `connection.state.v1`. */
export interface ConnectionStateData {
  /** What kind of connection: `database-pool`, `llm-upstream`, `mcp-server`, ... */
  kind: string;
  /** Its name, usually the configId (or member id). */
  name: string;
  from: ConnectionState;
  to: ConnectionState;
  reason?: string;
}

/** `breaker.changed.v1`. */
export interface BreakerChangedData {
  kind: string;
  name: string;
  from: BreakerState;
  to: BreakerState;
  /** ISO-8601 time at which an open breaker lets a probe through. */
  retryAt?: string;
}

/** One connection in an instance report (no targets, no errors: nothing that could name a secret). */
export interface ReportedConnection {
  id: string;
  configId: string;
  kind: string;
  state: ConnectionState;
  breaker: BreakerState;
  /** The connector revision this connection runs. */
  revision: number;
}

/**
 * `instance.report.v1`: a broker instance's whole picture, sent on the state channel every
 * `intervalMs` and soon after any change; `gone` on shutdown. The registry's fleet view.
 */
export interface InstanceReportData {
  /** The registry revision the instance has caught up to. */
  revision: number;
  connections: ReportedConnection[];
  intervalMs: number;
  startedAt: string;
  gone?: boolean;
}

export interface CreateEnvelopeOptions {
  source: EnvelopeSource;
  revision?: number;
  traceparent?: string;
  /** For tests and replays; defaults to now. */
  at?: Date;
}

/** Builds an envelope with a fresh id. */
export function createEnvelope<T>(type: string, data: T, options: CreateEnvelopeOptions): Envelope<T> {
  const envelope: Envelope<T> = {
    v: 1,
    type,
    id: randomUUID(),
    at: (options.at ?? new Date()).toISOString(),
    source: options.source,
    data,
  };
  if (options.revision !== undefined) envelope.revision = options.revision;
  if (options.traceparent !== undefined) envelope.traceparent = options.traceparent;
  return envelope;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses and checks a raw message. Returns undefined for anything that is not a
 * version-1 envelope, so a bad publisher can never crash a subscriber.
 */
export function parseEnvelope(raw: string): Envelope | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isRecord(value) || value.v !== 1) return undefined;
  if (typeof value.type !== 'string' || typeof value.id !== 'string' || typeof value.at !== 'string') return undefined;
  const source = value.source;
  if (!isRecord(source) || typeof source.service !== 'string' || typeof source.instance !== 'string') return undefined;
  if (value.revision !== undefined && typeof value.revision !== 'number') return undefined;
  if (value.traceparent !== undefined && typeof value.traceparent !== 'string') return undefined;
  if (!('data' in value)) return undefined;
  const envelope: Envelope = {
    v: 1,
    type: value.type,
    id: value.id,
    at: value.at,
    source: { service: source.service, instance: source.instance },
    data: value.data,
  };
  if (typeof value.revision === 'number') envelope.revision = value.revision;
  if (typeof value.traceparent === 'string') envelope.traceparent = value.traceparent;
  return envelope;
}
