/**
 * One handle of a connection and the work running on it. A swap makes a new slot current;
 * the old one is retired: it waits until its work is done (or a timeout), then its handle closes.
 */
export class HandleSlot<Spec, Handle> {
  handle: Handle | undefined;
  /** Set while the handle opens (work that arrives meanwhile waits for it). */
  opening: Promise<Handle> | undefined;
  /** Aborted when the slot is retired: an open or probe still running on it stops. */
  readonly abort = new AbortController();
  private inFlight = 0;
  private readonly idleWaiters = new Set<() => void>();

  constructor(readonly spec: Spec) {}

  /** Work starts on this slot. */
  enter(): void {
    this.inFlight++;
  }

  /** Work on this slot ended (successfully or not). */
  leave(): void {
    this.inFlight--;
    if (this.inFlight > 0 || this.idleWaiters.size === 0) return;
    for (const waiter of [...this.idleWaiters]) waiter();
  }

  /** Resolves true when `timeoutMs` passed first, false once no work runs on the slot. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters.delete(done);
        resolve(true);
      }, timeoutMs);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve(false);
      };
      this.idleWaiters.add(done);
    });
  }
}
