import type { Envelope } from './envelope';

/** Receives envelopes published on a channel. Errors it throws are reported, never rethrown. */
export type EnvelopeHandler = (envelope: Envelope) => void | Promise<void>;

/** A live subscription. */
export interface Subscription {
  unsubscribe(): Promise<void>;
}

/**
 * Publish/subscribe between services. At-most-once: a message published while a
 * subscriber is disconnected is lost, so subscribers resync from the source of truth
 * whenever {@link Bus.onResubscribed} fires.
 */
export interface Bus {
  /** Publishes one envelope on a logical channel. */
  publish(channel: string, envelope: Envelope): Promise<void>;
  /** Subscribes a handler to a logical channel. Resolves once the subscription is active. */
  subscribe(channel: string, handler: EnvelopeHandler): Promise<Subscription>;
  /**
   * Called after the transport re-established its subscriptions following a lost
   * connection (messages may have been missed). Returns the unregister function.
   */
  onResubscribed(listener: () => void): () => void;
  /** True while messages can flow (always true in memory). */
  readonly connected: boolean;
  /** Closes the transport; further publishes reject. */
  close(): Promise<void>;
}
