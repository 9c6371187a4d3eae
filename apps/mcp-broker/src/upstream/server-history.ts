import type { BreakerState, ConnectionState, StateChange } from '@patchbay/core';
import type { ServerSpec } from './server-spec';

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

const TRANSITIONS_KEPT = 20;
const STDERR_LINES_KEPT = 10;
const STDERR_LINE_CHARS = 500;
/** Lines of stderr quoted in an error: enough to show why a process died, short enough to read. */
const STDERR_LINES_QUOTED = 3;

/** The recent past of one server, as its status shows it: transitions, restarts, last error, stderr tail. */
export class ServerHistory {
  restarts = 0;
  lastError: string | null = null;
  private sinceAt = new Date();
  private readonly records: TransitionRecord[] = [];
  private readonly stderrTail: string[] = [];

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

  stderr(line: string): void {
    this.stderrTail.push(line.slice(0, STDERR_LINE_CHARS));
    if (this.stderrTail.length > STDERR_LINES_KEPT) this.stderrTail.shift();
  }

  /** `message`, followed by the last lines the process wrote to stderr (why a stdio server died). */
  withStderr(message: string): string {
    return this.stderrTail.length ? `${message}; stderr: ${this.stderrTail.slice(-STDERR_LINES_QUOTED).join(' | ')}` : message;
  }
}
