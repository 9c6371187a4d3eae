import type { Bus, EnvelopeHandler, Subscription } from './bus';
import type { Envelope } from './envelope';

/**
 * A bus inside one process, for `npm start` on embedded defaults and for tests.
 * Delivery is asynchronous (next microtask) so publishers never run subscriber code
 * inline, like a real transport. Each subscriber receives its own copy of the message.
 */
export class InMemoryBus implements Bus {
  private readonly handlers = new Map<string, Set<EnvelopeHandler>>();
  private closed = false;

  constructor(private readonly onHandlerError: (error: unknown) => void = () => undefined) {}

  get connected(): boolean {
    return !this.closed;
  }

  async publish(channel: string, envelope: Envelope): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    const handlers = this.handlers.get(channel);
    if (!handlers?.size) return;
    const payload = JSON.stringify(envelope);
    for (const handler of [...handlers]) {
      queueMicrotask(() => {
        try {
          const result = handler(JSON.parse(payload) as Envelope);
          if (result instanceof Promise) result.catch(this.onHandlerError);
        } catch (error) {
          this.onHandlerError(error);
        }
      });
    }
  }

  async subscribe(channel: string, handler: EnvelopeHandler): Promise<Subscription> {
    if (this.closed) throw new Error('bus is closed');
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    return {
      unsubscribe: async () => {
        set.delete(handler);
      },
    };
  }

  /** An in-memory bus never loses its subscriptions, so this never fires. */
  onResubscribed(_listener: () => void): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
  }
}
