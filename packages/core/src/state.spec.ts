import { canTransition, ConnectionState, ConnectionStateMachine, IllegalTransitionError } from './state';
import type { StateChange } from './state';

const S = ConnectionState;
const ALL = Object.values(ConnectionState);

// The contract of ARCHITECTURE.md section 6, written out independently of the table in state.ts.
const LEGAL: ReadonlyArray<readonly [ConnectionState, ConnectionState]> = [
  [S.DISCOVERED, S.CONNECTING],
  [S.DISCOVERED, S.CLOSED],
  [S.CONNECTING, S.ACTIVE],
  [S.CONNECTING, S.RETRYING],
  [S.CONNECTING, S.DEAD],
  [S.CONNECTING, S.CLOSED],
  [S.ACTIVE, S.RETRYING],
  [S.ACTIVE, S.CONNECTING],
  [S.ACTIVE, S.DEAD],
  [S.ACTIVE, S.CLOSED],
  [S.RETRYING, S.CONNECTING],
  [S.RETRYING, S.ACTIVE],
  [S.RETRYING, S.DEAD],
  [S.RETRYING, S.CLOSED],
  [S.DEAD, S.CONNECTING],
  [S.DEAD, S.CLOSED],
];
const isLegal = (from: ConnectionState, to: ConnectionState): boolean => LEGAL.some(([f, t]) => f === from && t === to);
const pairs = ALL.flatMap((from) => ALL.filter((to) => to !== from).map((to) => [from, to] as const));

describe('ConnectionState', () => {
  it('has the wire values of the contract', () => {
    expect(ALL).toEqual(['discovered', 'connecting', 'active', 'retrying', 'dead', 'closed']);
  });

  it.each(pairs.filter(([from, to]) => isLegal(from, to)))('allows %s -> %s and tells listeners', (from, to) => {
    const at = new Date('2025-01-01T00:00:00Z');
    const machine = new ConnectionStateMachine(from, () => at);
    const changes: StateChange[] = [];
    machine.onChange((change) => changes.push(change));
    expect(canTransition(from, to)).toBe(true);
    expect(machine.transition(to, 'because')).toEqual({ from, to, at, reason: 'because' });
    expect(machine.state).toBe(to);
    expect(changes).toEqual([{ from, to, at, reason: 'because' }]);
  });

  it.each(pairs.filter(([from, to]) => !isLegal(from, to)))('rejects %s -> %s and stays put', (from, to) => {
    const machine = new ConnectionStateMachine(from);
    const listener = jest.fn();
    machine.onChange(listener);
    expect(canTransition(from, to)).toBe(false);
    expect(() => machine.transition(to)).toThrow(IllegalTransitionError);
    expect(machine.state).toBe(from);
    expect(listener).not.toHaveBeenCalled();
  });

  it('closed is terminal', () => {
    const machine = new ConnectionStateMachine(S.CLOSED);
    for (const to of ALL.filter((s) => s !== S.CLOSED)) expect(() => machine.transition(to)).toThrow(IllegalTransitionError);
  });

  it('moving to the current state is a no-op without an event', () => {
    const machine = new ConnectionStateMachine(S.ACTIVE);
    const listener = jest.fn();
    machine.onChange(listener);
    expect(machine.transition(S.ACTIVE)).toBeUndefined();
    expect(listener).not.toHaveBeenCalled();
  });

  it('walks a realistic lifecycle and reports the illegal move with both states', () => {
    const machine = new ConnectionStateMachine();
    for (const to of [S.CONNECTING, S.ACTIVE, S.RETRYING, S.ACTIVE, S.DEAD, S.CONNECTING, S.ACTIVE, S.CLOSED]) machine.transition(to);
    expect(machine.state).toBe(S.CLOSED);
    const error = (() => {
      try {
        new ConnectionStateMachine(S.DISCOVERED).transition(S.ACTIVE);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toMatchObject({ from: S.DISCOVERED, to: S.ACTIVE, message: 'illegal connection state transition discovered -> active' });
  });

  it('unsubscribed listeners hear nothing', () => {
    const machine = new ConnectionStateMachine();
    const listener = jest.fn();
    const off = machine.onChange(listener);
    off();
    machine.transition(S.CONNECTING);
    expect(listener).not.toHaveBeenCalled();
  });
});
