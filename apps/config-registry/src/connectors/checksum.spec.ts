import { canonicalJson, connectorChecksum, diffSpecs } from './checksum';
import type { StoredSpec } from './connector.model';

// A stand-in for SecretBox: "ciphertext" is `enc(<value>)`, the fingerprint a tagged copy.
const fingerprint = (ciphertext: string): string => `fp:${ciphertext.slice(4, -1)}`;
const enc = (value: string): string => `enc(${value})`;

const spec = (overrides: Partial<StoredSpec> = {}): StoredSpec => ({
  type: 'llm',
  label: 'LLM',
  url: 'https://api.example.com/v1',
  options: { models: ['gpt-x'], priority: 1 },
  credentials: { apiKey: enc('k1') },
  ...overrides,
});

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
  });
});

describe('connectorChecksum', () => {
  it('does not depend on key order', () => {
    const a = spec({ options: { priority: 1, models: ['gpt-x'] } });
    expect(connectorChecksum('LLM', a, fingerprint)).toBe(connectorChecksum('LLM', spec(), fingerprint));
  });

  it('changes when only a credential changes, and never contains it', () => {
    const before = connectorChecksum('LLM', spec(), fingerprint);
    const after = connectorChecksum('LLM', spec({ credentials: { apiKey: enc('k2') } }), fingerprint);
    expect(after).not.toBe(before);
    expect(after).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with the configId and with member content', () => {
    const base = connectorChecksum('LLM', spec(), fingerprint);
    expect(connectorChecksum('LLM2', spec(), fingerprint)).not.toBe(base);
    const withMembers = spec({ members: [{ id: 'a', url: 'http://a' }] });
    const changed = spec({ members: [{ id: 'a', url: 'http://b' }] });
    expect(connectorChecksum('LLM', withMembers, fingerprint)).not.toBe(connectorChecksum('LLM', changed, fingerprint));
  });
});

describe('diffSpecs', () => {
  it('names changed fields and credential fields, never values', () => {
    const after = spec({
      label: 'new',
      credentials: { username: enc('u') },
      members: [{ id: 'm1', credentials: { apiKey: enc('x') } }],
    });
    const diff = diffSpecs(spec(), after, fingerprint);
    expect(diff.changed).toEqual(['label', 'members']);
    expect(diff.credentialsChanged).toEqual(['apiKey', 'username', 'members.m1.apiKey']);
    expect(JSON.stringify(diff)).not.toContain('k1');
  });

  it('reports nothing for identical content', () => {
    expect(diffSpecs(spec(), spec(), fingerprint)).toEqual({ changed: [], credentialsChanged: [] });
  });
});
