import { Channel, type Bus, type Envelope, type EnvelopeHandler, type Subscription } from '@patchbay/core';
import type { RegistryClient } from '@patchbay/client';
import type { Logger } from 'pino';

/**
 * Without Redis every process has a bus of its own, so a broker's state and instance
 * reports would never reach the registry's fleet view: this bus also posts what is
 * published on the state channel to the registry (`POST /v1/fleet/events`), best effort.
 */
export class FleetForwardingBus implements Bus {
  constructor(
    private readonly inner: Bus,
    private readonly registry: RegistryClient,
    private readonly logger: Logger,
  ) {}

  get connected(): boolean {
    return this.inner.connected;
  }

  publish(channel: string, envelope: Envelope): Promise<void> {
    if (channel === Channel.STATE) void this.forward(envelope);
    return this.inner.publish(channel, envelope);
  }

  subscribe(channel: string, handler: EnvelopeHandler): Promise<Subscription> {
    return this.inner.subscribe(channel, handler);
  }

  onResubscribed(listener: () => void): () => void {
    return this.inner.onResubscribed(listener);
  }

  async close(): Promise<void> {
    await this.inner.close();
    await this.registry.close();
  }

  private async forward(envelope: Envelope): Promise<void> {
    try {
      await this.registry.json('/v1/fleet/events', {
        method: 'POST',
        body: JSON.stringify(envelope),
        headers: { 'content-type': 'application/json' },
        timeoutMs: 2000,
      });
    } catch (error) {
      // The registry may be down or starting: the next report (every few seconds) catches up.
      this.logger.debug({ err: error, type: envelope.type }, 'fleet event not forwarded to the registry');
    }
  }
}
