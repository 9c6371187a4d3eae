import type { BreakerState, ConnectionState } from '@patchbay/core';

/** An error as status answers show it (the message only: error objects may hold secrets). */
export interface ErrorRecord {
  message: string;
  at: string;
}

/** One connection's status, as REST and gRPC list it. Driver `details` are merged in flat. */
export interface ConnectionStatus {
  id: string;
  configId: string;
  kind: string;
  state: ConnectionState;
  breaker: BreakerState;
  revision: number;
  /** Where it connects, without secrets. Empty for a misconfigured connector. */
  target: string;
  /** Why it is not serving now; null while active. */
  lastError: ErrorRecord | null;
  /** The latest error that is no longer current, and when it cleared. */
  previousError: (ErrorRecord & { clearedAt: string }) | null;
  /** When the next reconnect attempt (retrying) or breaker probe (open) happens. */
  retryAt: string | null;
  /** Handles swapped out and still finishing their work. */
  drainingHandles?: number;
  [detail: string]: unknown;
}

interface StoredError {
  message: string;
  at: Date;
}

/** A connection's current error, and the latest one that is no longer current. */
export class ErrorHistory {
  private current: StoredError | undefined;
  private previous: (StoredError & { clearedAt: Date }) | undefined;

  /** The current error's message, if any. */
  get message(): string | undefined {
    return this.current?.message;
  }

  /** Why the connection is not serving (or not as it should). */
  record(error: unknown): void {
    this.current = { message: errorMessage(error), at: new Date() };
  }

  /** Something that went wrong and is already over (an idle pooled connection dropped, a close that failed). */
  past(message: string): void {
    const now = new Date();
    this.previous = { message, at: now, clearedAt: now };
  }

  /** Serving again: the current error becomes history. */
  clear(): void {
    if (!this.current) return;
    this.previous = { ...this.current, clearedAt: new Date() };
    this.current = undefined;
  }

  lastError(): ErrorRecord | null {
    return this.current ? { message: this.current.message, at: this.current.at.toISOString() } : null;
  }

  previousError(): (ErrorRecord & { clearedAt: string }) | null {
    return this.previous ? { message: this.previous.message, at: this.previous.at.toISOString(), clearedAt: this.previous.clearedAt.toISOString() } : null;
  }
}

/** The message of an error, unwrapping the first of an AggregateError (a dual-stack connect). */
export function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors[0] instanceof Error) return error.errors[0].message;
  return error instanceof Error ? error.message : String(error);
}
