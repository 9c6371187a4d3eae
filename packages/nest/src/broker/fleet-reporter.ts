import { Channel, EventType, createEnvelope, type Bus, type EnvelopeSource, type InstanceReportData, type ReportedConnection } from '@patchbay/core';
import type { Logger } from 'pino';

/** Heartbeat of instance reports; the registry treats three missed ones as a lost instance. */
const DEFAULT_INTERVAL_MS = 10_000;
/** Changes within this window go out as one report. */
const COALESCE_MS = 100;

export interface FleetSnapshot {
  revision: number;
  connections: ReportedConnection[];
}

/**
 * Publishes `instance.report.v1` for one broker instance: at start, every interval, soon
 * after a change, and `gone` at shutdown. Lost messages only delay the picture: the next
 * report replaces the whole of it.
 */
export class FleetReporter {
  private readonly intervalMs: number;
  private readonly startedAt = new Date().toISOString();
  private heartbeat: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly bus: Bus,
    private readonly source: EnvelopeSource,
    private readonly snapshot: () => FleetSnapshot,
    private readonly logger: Logger,
    intervalMs?: number,
  ) {
    const fromEnv = Number(process.env.PATCHBAY_FLEET_REPORT_INTERVAL_MS);
    this.intervalMs = intervalMs ?? (Number.isInteger(fromEnv) && fromEnv >= 100 ? fromEnv : DEFAULT_INTERVAL_MS);
  }

  start(): void {
    if (this.heartbeat || this.stopped) return;
    this.heartbeat = setInterval(() => this.publish(false), this.intervalMs);
    this.heartbeat.unref();
    this.changed();
  }

  /** Something changed: report it shortly (coalesced). */
  changed(): void {
    if (this.stopped || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.publish(false);
    }, COALESCE_MS);
    this.pending.unref();
  }

  /** Stops reporting and says so, so the fleet view drops this instance at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.pending);
    if (this.heartbeat) await this.send(true);
  }

  private publish(gone: boolean): void {
    void this.send(gone);
  }

  private async send(gone: boolean): Promise<void> {
    const { revision, connections } = this.snapshot();
    const data: InstanceReportData = { revision, connections: gone ? [] : connections, intervalMs: this.intervalMs, startedAt: this.startedAt };
    if (gone) data.gone = true;
    try {
      await this.bus.publish(Channel.STATE, createEnvelope(EventType.INSTANCE_REPORT, data, { source: this.source, revision }));
    } catch (error) {
      this.logger.debug({ err: error }, 'instance report not published');
    }
  }
}
