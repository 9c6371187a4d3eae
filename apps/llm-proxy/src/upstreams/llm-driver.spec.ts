import { ErrorCode, PatchbayError, type ResolvedConnector } from '@patchbay/core';
import { testSettings } from '../../test/support/settings';
import { ProbeAnswered } from '../health/upstream-prober';
import { AttemptFailure, FailureKind, classifyError } from '../proxy/classify';
import { LlmDriver } from './llm-driver';

const settings = testSettings();
const checks: string[] = [];
const driver = new LlmDriver(
  settings,
  async (_pool, spec) => void checks.push(spec.configId),
  () => undefined,
);

function connector(options: Record<string, unknown>, url: string | null = 'https://api.example.com/v1/'): ResolvedConnector {
  return {
    configId: 'A',
    type: 'llm',
    revision: 1,
    checksum: 'x',
    mode: 'local',
    url,
    source: 'explicit',
    headers: {},
    credentials: { apiKey: 'sk-secret-key' },
    options,
  };
}

describe('LlmDriver', () => {
  it('plans one connection with the key injected and the base path kept', () => {
    const [plan] = driver.plan(connector({ models: ['m'], breakerFailures: 2 }), { models: ['m'], breakerFailures: 2 });
    expect(plan?.id).toBe('A');
    expect(plan?.spec).toMatchObject({
      origin: 'https://api.example.com',
      basePath: '/v1',
      headers: { authorization: 'Bearer sk-secret-key' },
      source: 'registry',
    });
    expect(driver.settings(plan!.spec)).toMatchObject({ breakerFailures: 2, breakerRecoveryMs: 60_000, healthIntervalMs: 0 });
    expect(driver.describe(plan!.spec)).toBe('https://api.example.com/v1');
  });

  it('marks a connector without a url unusable', () => {
    expect(() => driver.plan(connector({}, null), {})).toThrow(/no url/);
  });

  it('fingerprints every option (a routing change applies) and never shows the key', () => {
    const one = driver.plan(connector({ models: ['m'] }), { models: ['m'] })[0]!.spec;
    const two = driver.plan(connector({ models: ['m', 'n'] }), { models: ['m', 'n'] })[0]!.spec;
    expect(driver.fingerprint(one)).not.toBe(driver.fingerprint(two));
    expect(driver.fingerprint(one)).toBe(driver.fingerprint({ ...one }));
    expect(driver.fingerprint(one)).not.toContain('sk-secret-key');
  });

  it('classifies: unreachable -> connection; 5xx, timeouts, auth, a reset -> failure; 429, cancellations, a probe answered -> caller', () => {
    expect(driver.classify(classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })))).toBe('connection');
    expect(driver.classify(classifyError(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' })))).toBe('connection');
    expect(driver.classify(classifyError(Object.assign(new Error('x'), { code: 'ECONNRESET' })))).toBe('failure');
    expect(driver.classify(new AttemptFailure(FailureKind.SERVER, '500', 500))).toBe('failure');
    expect(driver.classify(new AttemptFailure(FailureKind.TIMEOUT, 'slow'))).toBe('failure');
    expect(driver.classify(new AttemptFailure(FailureKind.AUTH, '401', 401))).toBe('failure');
    expect(driver.classify(new PatchbayError(ErrorCode.TIMEOUT, 'deadline exceeded'))).toBe('failure');
    expect(driver.classify(new AttemptFailure(FailureKind.RATE_LIMITED, '429', 429))).toBe('caller');
    expect(driver.classify(new PatchbayError(ErrorCode.CANCELLED, 'client disconnected'))).toBe('caller');
    expect(driver.classify(new ProbeAnswered('GET /models answered 404'))).toBe('caller');
  });

  it('keeps the breaker open longer after rejected credentials', () => {
    expect(driver.breakerRecoveryFor(new AttemptFailure(FailureKind.AUTH, '401', 401))).toBe(300_000);
    expect(driver.breakerRecoveryFor(new AttemptFailure(FailureKind.SERVER, '500', 500))).toBeUndefined();
  });

  it('probes only connectors that enable it', async () => {
    const off = driver.plan(connector({}), {})[0]!.spec;
    const on = driver.plan(connector({ probe: true }), { probe: true })[0]!.spec;
    const pool = await driver.open(off);
    await driver.probe(pool, off, new AbortController().signal);
    expect(checks).toEqual([]);
    await driver.probe(pool, on, new AbortController().signal);
    expect(checks).toEqual(['A']);
    await driver.close(pool);
  });
});
