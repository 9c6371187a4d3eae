/**
 * Lifecycle of every managed connection (database pool, LLM upstream, MCP server).
 * String values are what goes on the wire in `connection.state.v1`.
 */
export enum ConnectionState {
  DISCOVERED = 'discovered',
  CONNECTING = 'connecting',
  ACTIVE = 'active',
  RETRYING = 'retrying',
  DEAD = 'dead',
  CLOSED = 'closed',
}

/** Allowed transitions; anything else is a programming error. */
export const CONNECTION_TRANSITIONS: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  [ConnectionState.DISCOVERED]: [ConnectionState.CONNECTING, ConnectionState.CLOSED],
  [ConnectionState.CONNECTING]: [ConnectionState.ACTIVE, ConnectionState.RETRYING, ConnectionState.DEAD, ConnectionState.CLOSED],
  [ConnectionState.ACTIVE]: [ConnectionState.RETRYING, ConnectionState.CONNECTING, ConnectionState.DEAD, ConnectionState.CLOSED],
  [ConnectionState.RETRYING]: [ConnectionState.CONNECTING, ConnectionState.ACTIVE, ConnectionState.DEAD, ConnectionState.CLOSED],
  [ConnectionState.DEAD]: [ConnectionState.CONNECTING, ConnectionState.CLOSED],
  [ConnectionState.CLOSED]: [],
};

/** Thrown on a transition the table does not allow. */
export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';
  constructor(
    readonly from: ConnectionState,
    readonly to: ConnectionState,
  ) {
    super(`illegal connection state transition ${from} -> ${to}`);
  }
}

/** True when the table allows `from -> to`. */
export function canTransition(from: ConnectionState, to: ConnectionState): boolean {
  return CONNECTION_TRANSITIONS[from].includes(to);
}

/** A state change, as handed to listeners. */
export interface StateChange {
  from: ConnectionState;
  to: ConnectionState;
  at: Date;
  reason?: string;
}

/**
 * Holds one connection's state and enforces the transition table.
 * Setting the current state again is a no-op (no event); an illegal move throws
 * {@link IllegalTransitionError}.
 */
export class ConnectionStateMachine {
  private current: ConnectionState;
  private readonly listeners = new Set<(change: StateChange) => void>();

  constructor(
    initial: ConnectionState = ConnectionState.DISCOVERED,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.current = initial;
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** Moves to `to`; returns the change, or undefined when already there. */
  transition(to: ConnectionState, reason?: string): StateChange | undefined {
    const from = this.current;
    if (from === to) return undefined;
    if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
    this.current = to;
    const change: StateChange = reason === undefined ? { from, to, at: this.now() } : { from, to, at: this.now(), reason };
    for (const listener of this.listeners) listener(change);
    return change;
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Circuit breaker states, as they go on the wire in `breaker.changed.v1`. */
export enum BreakerState {
  CLOSED = 'closed',
  OPEN = 'open',
  HALF_OPEN = 'half_open',
  FORCED_OPEN = 'forced_open',
  DISABLED = 'disabled',
}
