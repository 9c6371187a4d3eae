import { Deadline } from './deadline';
import { ErrorCode, PatchbayError } from './errors';
import { RequestController, controllerAborted } from './request-controller';

describe('RequestController', () => {
  it('knows it aborted and why, and tells its EventEmitter signal once', () => {
    const controller = new RequestController();
    const signal = controller.emitterSignal;
    const heard: unknown[] = [];
    signal.once('abort', () => heard.push(signal.reason));
    expect(controller.aborted).toBe(false);
    expect(signal.aborted).toBe(false);
    const reason = new PatchbayError(ErrorCode.CANCELLED, 'client disconnected');
    controller.abort(reason);
    controller.abort(new Error('later'));
    expect(controller.aborted).toBe(true);
    expect(controller.reason).toBe(reason);
    expect(signal.aborted).toBe(true);
    expect(heard).toEqual([reason]);
    expect(controllerAborted(controller)).toBe(true);
  });

  it('keeps its AbortSignal working, whether made before or after the abort', () => {
    const before = new RequestController();
    const early = before.signal;
    const fired = jest.fn();
    early.addEventListener('abort', fired);
    before.abort('why');
    expect(fired).toHaveBeenCalledTimes(1);
    expect(early.reason).toBe('why');

    const after = new RequestController();
    after.abort('late');
    expect(after.signal.aborted).toBe(true);
    expect(after.signal.reason).toBe('late');
  });

  it('gives the signal reason (an AbortError) when aborted without one', () => {
    const controller = new RequestController();
    controller.abort();
    expect((controller.reason as Error).name).toBe('AbortError');
    expect(controller.reason).toBe(controller.signal.reason);
  });

  it('drives and is read by a Deadline without making an AbortSignal', () => {
    jest.useFakeTimers();
    try {
      const controller = new RequestController();
      const made = jest.spyOn(controller, 'signal', 'get');
      const deadline = new Deadline(50, { controller });
      const heard = jest.fn();
      controller.emitterSignal.once('abort', heard);
      expect(deadline.aborted).toBe(false);
      jest.advanceTimersByTime(60);
      expect(deadline.aborted).toBe(true);
      expect(deadline.reason).toMatchObject({ code: ErrorCode.TIMEOUT });
      expect(heard).toHaveBeenCalledTimes(1);
      // Only the abort itself read the signal (to record its reason).
      expect(made.mock.calls.length).toBeLessThanOrEqual(1);
      deadline.dispose();
    } finally {
      jest.useRealTimers();
    }
  });

  it('reads a plain AbortController through its signal', () => {
    const plain = new AbortController();
    expect(controllerAborted(plain)).toBe(false);
    plain.abort();
    expect(controllerAborted(plain)).toBe(true);
    const deadline = new Deadline(1_000, { controller: new AbortController() });
    expect(deadline.aborted).toBe(false);
    expect(deadline.reason).toBeUndefined();
    deadline.dispose();
  });
});
