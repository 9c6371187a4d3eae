import { z } from 'zod';
import { upstreamOptions } from '../upstreams/connector-options';
import { LLM_PROXY_ENV, settingsFrom } from './settings';

describe('default timeouts', () => {
  // An upstream that accepts the connection and never answers must not hold a request
  // for the whole request deadline when nobody configured anything.
  const settings = settingsFrom(z.object(LLM_PROXY_ENV).parse({}));
  const { options } = upstreamOptions({}, { ...settings.defaults, probeIntervalMs: settings.probeIntervalMs });

  it('bounds the wait for a non-streaming answer well below the request deadline', () => {
    expect(options.timeoutMs).toBeLessThanOrEqual(120_000);
    expect(options.timeoutMs).toBeLessThan(settings.deadlineMs);
  });

  it('bounds the wait for the first streamed byte and every silence after it', () => {
    expect(options.firstTokenTimeoutMs).toBeLessThanOrEqual(60_000);
    expect(options.idleTimeoutMs).toBeLessThanOrEqual(120_000);
    expect(options.connectTimeoutMs).toBeLessThanOrEqual(10_000);
  });

  it('lets a connector choose its own timeout', () => {
    expect(upstreamOptions({ timeoutMs: 900_000 }, { ...settings.defaults, probeIntervalMs: 0 }).options.timeoutMs).toBe(900_000);
  });
});
