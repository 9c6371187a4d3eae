import type { ResolvedConnector } from '@patchbay/core';
import { DEFAULT_SETTINGS } from '../config/broker-settings';
import { poolSpecOf } from './pool-target';

function connector(overrides: Partial<ResolvedConnector>): ResolvedConnector {
  return {
    configId: 'DATABASE',
    type: 'database',
    revision: 1,
    checksum: 'x',
    mode: 'local',
    url: 'postgres://db.example:6543/app',
    source: 'explicit',
    headers: {},
    options: {},
    ...overrides,
  };
}

describe('poolSpecOf', () => {
  it('merges credentials into the url and never shows the password', () => {
    const spec = poolSpecOf(connector({ credentials: { username: 'app', password: 's3cret' } }), DEFAULT_SETTINGS);
    expect(spec.target).toEqual({ host: 'db.example', port: 6543, database: 'app', user: 'app', password: 's3cret', ssl: false });
    expect(spec.display).toBe('postgres://app@db.example:6543/app');
    expect(JSON.stringify(spec.display)).not.toContain('s3cret');
  });

  it('accepts a bare stack-mode host and takes the database name from options', () => {
    const spec = poolSpecOf(connector({ url: 'orders-rw.databases.svc.cluster.local', options: { database: 'orders' } }), DEFAULT_SETTINGS);
    expect(spec.target.host).toBe('orders-rw.databases.svc.cluster.local');
    expect(spec.target.port).toBe(5432);
    expect(spec.target.database).toBe('orders');
  });

  it('applies options over defaults and keeps min within max', () => {
    const spec = poolSpecOf(connector({ options: { max: 4, min: 3, statementTimeoutMs: 250 } }), DEFAULT_SETTINGS);
    expect(spec.settings.max).toBe(4);
    expect(spec.settings.min).toBe(3);
    // min alone may exceed the default max: it is kept within it.
    expect(poolSpecOf(connector({ options: { min: 50 } }), DEFAULT_SETTINGS).settings.min).toBe(10);
    expect(spec.settings.statementTimeoutMs).toBe(250);
    expect(spec.settings.maxSessions).toBe(2);
  });

  it('changes the fingerprint when the password or size changes, not otherwise', () => {
    const base = poolSpecOf(connector({ credentials: { password: 'a' } }), DEFAULT_SETTINGS);
    expect(poolSpecOf(connector({ credentials: { password: 'a' }, revision: 7 }), DEFAULT_SETTINGS).fingerprint).toBe(base.fingerprint);
    expect(poolSpecOf(connector({ credentials: { password: 'b' } }), DEFAULT_SETTINGS).fingerprint).not.toBe(base.fingerprint);
    expect(poolSpecOf(connector({ credentials: { password: 'a' }, options: { max: 3 } }), DEFAULT_SETTINGS).fingerprint).not.toBe(base.fingerprint);
  });

  it('rejects unusable urls with a clear message', () => {
    expect(() => poolSpecOf(connector({ url: null }), DEFAULT_SETTINGS)).toThrow(/resolves to no url/);
    expect(() => poolSpecOf(connector({ url: 'mysql://x/y' }), DEFAULT_SETTINGS)).toThrow(/postgres:\/\//);
  });

  it('runs a stored option outside the shared schema on its default and names it', () => {
    const spec = poolSpecOf(connector({ options: { max: 1e308, min: 9, acquireTimeoutMs: 2 ** 31 } }), DEFAULT_SETTINGS);
    expect(spec.settings.max).toBe(10);
    expect(spec.settings.min).toBe(9);
    expect(spec.settings.acquireTimeoutMs).toBe(5_000);
    expect(spec.optionIssues.map((issue) => issue.path).sort()).toEqual(['options.acquireTimeoutMs', 'options.max']);
  });
});
