import type { ResolvedConnector } from '@patchbay/core';
import { UpstreamStatusError, CallerBodyError } from '../forward/upstream-errors';
import { API_DEFAULTS, ApiDriver } from './api-driver';

function connector(overrides: Partial<ResolvedConnector> = {}): ResolvedConnector {
  return {
    configId: 'API',
    type: 'api',
    revision: 1,
    checksum: 'c',
    mode: 'local',
    url: 'https://api.example.com/v1?key=q-secret',
    source: 'explicit',
    headers: {},
    options: {},
    credentials: { apiKey: 'sk-secret' },
    ...overrides,
  };
}

describe('ApiDriver', () => {
  const driver = new ApiDriver();

  it('plans one connection per connector with its credentials and the defaults', () => {
    const [plan] = driver.plan(connector(), { maxRetries: 0 });
    expect(plan?.id).toBe('API');
    expect(plan?.spec.injected).toEqual({ authorization: 'Bearer sk-secret' });
    expect(plan?.spec.maxRetries).toBe(0);
    expect(plan?.spec.totalTimeoutMs).toBe(API_DEFAULTS.timeoutMs);
  });

  it('marks a connector without a usable url misconfigured, saying how to give it one', () => {
    expect(() => driver.plan(connector({ url: null }), {})).toThrow('API_URL');
    expect(() => driver.plan(connector({ url: 'ftp://h' }), {})).toThrow('http or https');
  });

  it('fingerprints the secrets too (a rotated key swaps the pool), without holding them in clear', () => {
    const [a] = driver.plan(connector(), {});
    const [b] = driver.plan(connector({ credentials: { apiKey: 'sk-rotated' } }), {});
    const [c] = driver.plan(connector({ revision: 2 }), {});
    expect(driver.fingerprint(a!.spec)).not.toBe(driver.fingerprint(b!.spec));
    expect(driver.fingerprint(a!.spec)).toBe(driver.fingerprint(c!.spec));
    expect(driver.fingerprint(a!.spec)).not.toContain('sk-secret');
  });

  it('describes the target without the query, which may hold a key', () => {
    expect(driver.describe(driver.plan(connector(), {})[0]!.spec)).toBe('https://api.example.com/v1');
  });

  it("counts upstream 5xx and lost connections against the breaker, never the caller's faults", () => {
    expect(driver.classify(new UpstreamStatusError(503, undefined, true))).toBe('failure');
    expect(driver.classify(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe('failure');
    expect(driver.classify(new CallerBodyError('cut'))).toBe('caller');
    expect(driver.classify(Object.assign(new Error('gone'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))).toBe('caller');
  });
});
