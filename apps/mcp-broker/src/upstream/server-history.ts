import type { BreakerState, ConnectionState, StateChange } from '@patchbay/core';
import type { ErrorRecord } from '@patchbay/nest';
import type { ServerDetails } from './agent-tool-driver';

export interface TransitionRecord {
  from: ConnectionState;
  to: ConnectionState;
  at: string;
  reason?: string;
}

/** What `/v1/servers/:id` shows: the runtime's connection status, the MCP details, the history. */
export interface ServerStatus extends ServerDetails {
  id: string;
  configId: string;
  kind: string;
  revision: number;
  state: ConnectionState;
  breaker: BreakerState;
  /** Where it connects, without secrets. */
  target: string;
  /** The latest error, kept after recovery (why the last reconnect happened). */
  lastError: string | null;
  previousError: (ErrorRecord & { clearedAt: string }) | null;
  /** When the next reconnect attempt (retrying) or breaker probe (open) happens. */
  retryAt: string | null;
  drainingHandles?: number;
  restarts: number;
  since: string;
  transitions: TransitionRecord[];
}

const TRANSITIONS_KEPT = 20;

/** The recent past of one server, as its status shows it: state transitions and restarts. */
export class ServerHistory {
  restarts = 0;
  private sinceAt = new Date();
  private readonly records: TransitionRecord[] = [];

  get since(): Date {
    return this.sinceAt;
  }

  get transitions(): TransitionRecord[] {
    return [...this.records];
  }

  record(change: StateChange): void {
    this.sinceAt = change.at;
    const record: TransitionRecord = { from: change.from, to: change.to, at: change.at.toISOString() };
    if (change.reason !== undefined) record.reason = change.reason;
    this.records.push(record);
    if (this.records.length > TRANSITIONS_KEPT) this.records.shift();
  }
}
