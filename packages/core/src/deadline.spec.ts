import { Deadline } from './deadline';
import { ErrorCode, PatchbayError } from './errors';

describe('Deadline', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('counts down and aborts its signal with TIMEOUT at the deadline', () => {
    const deadline = new Deadline(1_000);
    expect(deadline.remainingMs).toBe(1_000);
    jest.advanceTimersByTime(999);
    expect(deadline.remainingMs).toBe(1);
    expect(deadline.expired).toBe(false);
    expect(deadline.signal.aborted).toBe(false);

    jest.advanceTimersByTime(1);
    expect(deadline.expired).toBe(true);
    expect(deadline.remainingMs).toBe(0);
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.signal.reason).toBeInstanceOf(PatchbayError);
    expect(deadline.signal.reason).toMatchObject({ code: ErrorCode.TIMEOUT });
  });

  it('aborts with the parent reason when the parent aborts first, and stops its timer', () => {
    const parent = new AbortController();
    const deadline = new Deadline(1_000, { signal: parent.signal });
    parent.abort('shutting down');
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.signal.reason).toBe('shutting down');
    expect(deadline.expired).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('is aborted at once when the parent already was', () => {
    const parent = new AbortController();
    parent.abort('gone');
    const deadline = new Deadline(1_000, { signal: parent.signal });
    expect(deadline.signal.reason).toBe('gone');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('dispose releases the timer without aborting', () => {
    const deadline = new Deadline(1_000);
    expect(jest.getTimerCount()).toBe(1);
    deadline.dispose();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(5_000);
    expect(deadline.signal.aborted).toBe(false);
    expect(deadline.expired).toBe(true);
  });

  it('without a deadline only follows the parent', () => {
    const deadline = new Deadline(Infinity);
    expect(deadline.remainingMs).toBe(Infinity);
    expect(jest.getTimerCount()).toBe(0);
    expect(() => new Deadline(-1)).toThrow(RangeError);
  });

  it('handles deadlines beyond the Node timer limit', () => {
    const days30 = 30 * 24 * 3_600_000;
    const deadline = new Deadline(days30);
    jest.advanceTimersByTime(days30 - 1);
    expect(deadline.signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(deadline.signal.aborted).toBe(true);
  });

  it('can drive a controller its caller owns: the deadline aborts it, and the caller can too', () => {
    const owned = new AbortController();
    const deadline = new Deadline(1_000, { controller: owned });
    expect(deadline.signal).toBe(owned.signal);
    jest.advanceTimersByTime(1_000);
    expect(owned.signal.reason).toMatchObject({ code: ErrorCode.TIMEOUT });

    const early = new AbortController();
    const other = new Deadline(1_000, { controller: early });
    early.abort('client left');
    expect(other.signal.reason).toBe('client left');
    other.dispose();
    expect(jest.getTimerCount()).toBe(0);

    const gone = new AbortController();
    gone.abort('gone');
    expect(new Deadline(1_000, { controller: gone }).signal.reason).toBe('gone');
    expect(jest.getTimerCount()).toBe(0);
    expect(() => new Deadline(1_000, { controller: new AbortController(), signal: new AbortController().signal })).toThrow(TypeError);
  });
});
