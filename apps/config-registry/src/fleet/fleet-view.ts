import {
  Channel,
  EventType,
  type BreakerChangedData,
  type Bus,
  type ConnectionStateData,
  type Envelope,
  type InstanceReportData,
  type Subscription,
} from '@patchbay/core';
import type { Logger } from 'pino';
import { instanceKey, type FleetInstance, type FleetStore } from './fleet-store';

/** Missed heartbeats after which an instance shows as `lost`; after twice as many it is dropped. */
const LOST_AFTER_INTERVALS = 3;

export interface FleetEntry extends Omit<FleetInstance, 'seenAt'> {
  seenAt: string;
  status: 'live' | 'lost';
}

/**
 * The live picture of every broker instance, built from the bus: `instance.report.v1`
 * replaces an instance's whole entry, `connection.state.v1` / `breaker.changed.v1` update
 * one connection in between. Entries are kept in the fleet store (Redis when configured).
 */
export class FleetView {
  private subscription: Subscription | undefined;
  /** Serialises read-modify-write per instance, so deltas never overwrite a newer report. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly bus: Bus,
    private readonly store: FleetStore,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.subscription = await this.bus.subscribe(Channel.STATE, (envelope) => this.ingest(envelope));
  }

  /** Takes one state-channel envelope, from the bus or posted by a broker without Redis. */
  ingest(envelope: Envelope): Promise<void> {
    this.queue = this.queue.then(() => this.apply(envelope)).catch((error: unknown) => this.logger.warn({ err: error }, 'fleet update failed'));
    return this.queue;
  }

  /** Every known instance, sorted by service and instance; lost ones flagged, long-lost ones dropped. */
  async list(now = Date.now()): Promise<FleetEntry[]> {
    const entries: FleetEntry[] = [];
    for (const instance of await this.store.all()) {
      const silentMs = now - instance.seenAt;
      const limit = instance.intervalMs * LOST_AFTER_INTERVALS;
      if (silentMs > limit * 2) {
        await this.store.remove(instanceKey(instance.service, instance.instance));
        continue;
      }
      entries.push({ ...instance, seenAt: new Date(instance.seenAt).toISOString(), status: silentMs > limit ? 'lost' : 'live' });
    }
    return entries.sort((a, b) => a.service.localeCompare(b.service) || a.instance.localeCompare(b.instance));
  }

  async close(): Promise<void> {
    await this.subscription?.unsubscribe();
    await this.queue;
    await this.store.close();
  }

  private async apply(envelope: Envelope): Promise<void> {
    const { service, instance } = envelope.source;
    const key = instanceKey(service, instance);
    if (envelope.type === EventType.INSTANCE_REPORT) {
      const data = envelope.data as InstanceReportData;
      if (data.gone) {
        await this.store.remove(key);
        return;
      }
      await this.store.put({
        service,
        instance,
        revision: data.revision,
        startedAt: data.startedAt,
        seenAt: Date.now(),
        intervalMs: data.intervalMs,
        connections: data.connections.map(({ id, configId, kind, state, breaker, revision }) => ({ id, configId, kind, state, breaker, revision })),
      });
      return;
    }
    if (envelope.type !== EventType.CONNECTION_STATE && envelope.type !== EventType.BREAKER_CHANGED) return;
    const current = await this.store.get(key);
    if (!current) return; // the instance's next report brings it in whole
    const data = envelope.data as ConnectionStateData | BreakerChangedData;
    const connection = current.connections.find((c) => c.id === data.name);
    if (!connection) return;
    if (envelope.type === EventType.CONNECTION_STATE) connection.state = (data as ConnectionStateData).to;
    else {
      connection.breaker = (data as BreakerChangedData).to;
      const retryAt = (data as BreakerChangedData).retryAt;
      if (retryAt) connection.retryAt = retryAt;
      else delete connection.retryAt;
    }
    current.seenAt = Date.now();
    await this.store.put(current);
  }
}
