import type { ConnectorType, ResolvedConnector } from '@patchbay/core';
import type { BrokerDriver, CloseReason, ConnectionSettings, ErrorClass, OpenContext, PlannedConnection } from '../../src/broker/driver';

export interface FakeSpec {
  url: string;
  /** Only in the fingerprint when set: a change that swaps. */
  secret?: string;
  settings: ConnectionSettings;
}

export class FakeHandle {
  closed: CloseReason | undefined;
  constructor(
    readonly url: string,
    readonly serial: number,
  ) {}
}

/** Errors the fake classifies: `new FakeError('connection')` and so on. */
export class FakeError extends Error {
  constructor(readonly errorClass: ErrorClass) {
    super(`fake ${errorClass} error`);
  }
}

export const FAST_SETTINGS: ConnectionSettings = {
  breakerFailures: 3,
  breakerRecoveryMs: 60_000,
  reconnectMaxMs: 20,
  reconnectInitialMs: 5,
  drainTimeoutMs: 5_000,
};

/**
 * A driver whose target is scripted: `failOpens` opens reject, `probeError` makes probes
 * fail; every open and close is recorded. Connectors plan one connection, or one per
 * member (`<configId>.<member>`); a connector without url is misconfigured.
 */
export class FakeDriver implements BrokerDriver<FakeSpec, FakeHandle> {
  readonly types: readonly ConnectorType[] = ['api'];
  readonly kind = 'fake-upstream';
  failOpens = 0;
  probeError: Error | undefined;
  /** Set: opens wait for it. */
  openGate: Promise<void> | undefined;
  readonly opened: FakeHandle[] = [];
  readonly closed: { handle: FakeHandle; reason: CloseReason }[] = [];
  readonly contexts: OpenContext[] = [];
  probes = 0;
  settingsOverride: Partial<ConnectionSettings> = {};

  plan(connector: ResolvedConnector, options: Record<string, unknown>): PlannedConnection<FakeSpec>[] {
    const settings = {
      ...FAST_SETTINGS,
      ...this.settingsOverride,
      ...(typeof options['breakerFailures'] === 'number' ? { breakerFailures: options['breakerFailures'] } : {}),
    };
    if (connector.members) {
      return connector.members.map((member) => {
        if (!member.url) throw new Error(`member '${member.id}' has no url`);
        return { id: `${connector.configId}.${member.id}`, spec: { url: member.url, settings } };
      });
    }
    if (!connector.url) throw new Error(`connector '${connector.configId}' has no url`);
    const spec: FakeSpec = { url: connector.url, settings };
    if (connector.credentials?.apiKey) spec.secret = connector.credentials.apiKey;
    return [{ id: connector.configId, spec }];
  }

  fingerprint(spec: FakeSpec): string {
    return JSON.stringify([spec.url, spec.secret ?? '', spec.settings]);
  }

  settings(spec: FakeSpec): ConnectionSettings {
    return spec.settings;
  }

  async open(spec: FakeSpec, context: OpenContext): Promise<FakeHandle> {
    this.contexts.push(context);
    if (this.openGate) await this.openGate;
    if (this.failOpens > 0) {
      this.failOpens--;
      throw new FakeError('connection');
    }
    const handle = new FakeHandle(spec.url, this.opened.length + 1);
    this.opened.push(handle);
    return handle;
  }

  async probe(): Promise<void> {
    this.probes++;
    if (this.probeError) throw this.probeError;
  }

  async close(handle: FakeHandle, reason: CloseReason): Promise<void> {
    handle.closed = reason;
    this.closed.push({ handle, reason });
  }

  classify(error: unknown): ErrorClass {
    return error instanceof FakeError ? error.errorClass : 'caller';
  }

  describe(spec: FakeSpec): string {
    return spec.url;
  }

  details(handle: FakeHandle | undefined, _spec: FakeSpec, draining: readonly FakeHandle[]): Record<string, unknown> {
    return { serial: handle?.serial ?? null, drainingSerials: draining.map((d) => d.serial) };
  }
}

export function fakeConnector(configId: string, fields: Partial<ResolvedConnector> = {}): ResolvedConnector {
  return {
    configId,
    type: 'api',
    revision: 1,
    checksum: 'x',
    mode: 'local',
    url: `http://${configId.toLowerCase()}.test`,
    source: 'explicit',
    headers: {},
    options: {},
    ...fields,
  };
}

export async function until(check: () => boolean, what = 'condition', timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not met in time`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
