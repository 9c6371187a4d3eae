import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Scope, hasScope, mayUseConnector, mayUseTool } from './scopes';
import { scramKeys } from './scram-keys';
import { TokenStore } from './token-store';

const ADMIN = 'admin-token-0123456789';

describe('TokenStore', () => {
  it('gives the admin token every scope and rejects unknown tokens', () => {
    const store = new TokenStore(ADMIN);
    const admin = store.authenticate(ADMIN);
    expect(admin?.name).toBe('admin');
    for (const scope of [Scope.READ, Scope.RESOLVE, Scope.USE, Scope.ADMIN]) expect(hasScope(admin!, scope)).toBe(true);
    expect(store.authenticate('admin-token-0123456788')).toBeUndefined();
    expect(store.authenticate('')).toBeUndefined();
  });

  it('answers a token seen before the same way, and still refuses near misses after it', () => {
    const store = new TokenStore(ADMIN, [{ name: 'reader', token: 'reader-token-abcdefgh', scopes: [Scope.READ] }]);
    const first = store.authenticate('reader-token-abcdefgh');
    expect(store.authenticate('reader-token-abcdefgh')).toBe(first);
    expect(store.authenticate(ADMIN)?.name).toBe('admin');
    expect(store.authenticate(ADMIN)?.name).toBe('admin');
    for (const miss of ['reader-token-abcdefg', 'reader-token-abcdefghi', 'READER-TOKEN-ABCDEFGH', `${ADMIN} `]) {
      expect(store.authenticate(miss)).toBeUndefined();
      expect(store.authenticate(miss)).toBeUndefined();
    }
  });

  it('loads scoped tokens from JSON and YAML, by value or sha256', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-tokens-'));
    const hashed = 'agent-token-abcdefghijkl';
    writeFileSync(
      join(dir, 'tokens.yaml'),
      `tokens:\n  - name: agent\n    sha256: ${createHash('sha256').update(hashed).digest('hex')}\n    scopes: [use]\n    connectors: [DATABASE]\n`,
    );
    const store = TokenStore.fromSources(ADMIN, {
      inline: JSON.stringify([{ name: 'reader', token: 'reader-token-abcdefgh', scopes: ['read'] }]),
      file: join(dir, 'tokens.yaml'),
    });
    const reader = store.authenticate('reader-token-abcdefgh');
    expect(reader?.name).toBe('reader');
    expect(hasScope(reader!, Scope.READ)).toBe(true);
    expect(hasScope(reader!, Scope.RESOLVE)).toBe(false);
    const agent = store.authenticate(hashed);
    expect(agent?.name).toBe('agent');
    expect(mayUseConnector(agent!, 'DATABASE')).toBe(true);
    expect(mayUseConnector(agent!, 'OTHER')).toBe(false);
  });

  it("limits MCP tools by the token's tools globs, all tools without them", () => {
    const store = TokenStore.fromSources(ADMIN, {
      inline: JSON.stringify([{ name: 'curated', token: 'curated-token-abcdefgh', scopes: ['use'], tools: ['memory__read_*', 'everything__echo'] }]),
      file: undefined,
    });
    const curated = store.authenticate('curated-token-abcdefgh');
    expect(mayUseTool(curated!, 'memory__read_graph')).toBe(true);
    expect(mayUseTool(curated!, 'everything__echo')).toBe(true);
    expect(mayUseTool(curated!, 'memory__delete_entities')).toBe(false);
    expect(mayUseTool(store.authenticate(ADMIN)!, 'memory__delete_entities')).toBe(true);
  });

  it('names the bad entry without echoing token values', () => {
    expect(() => TokenStore.fromSources(ADMIN, { inline: '[{"name":"x","token":"short","scopes":["use"]}]', file: undefined })).toThrow(
      /PATCHBAY_TOKENS: 0\.token must be at least 16 characters/,
    );
    expect(() => TokenStore.fromSources(ADMIN, { inline: '[{"name":"x","token":"long-enough-token-1","scopes":["root"]}]', file: undefined })).toThrow(
      /PATCHBAY_TOKENS: 0\.scopes\.0/,
    );
    expect(() => TokenStore.fromSources(ADMIN, { inline: '{not json', file: undefined })).toThrow(/PATCHBAY_TOKENS: not valid JSON/);
  });

  it('keeps SCRAM verifiers (never the value) for tokens given by value, none for sha256-only ones', () => {
    const hashed = 'hashed-token-abcdefghij';
    const store = new TokenStore(ADMIN, [
      { name: 'reader', token: 'reader-token-abcdefgh', scopes: [Scope.READ] },
      { name: 'hashed', sha256: createHash('sha256').update(hashed).digest('hex'), scopes: [Scope.USE] },
    ]);
    expect(store.scram.iterations).toBe(4096);
    expect(store.scram.verifiers.map((v) => v.principal.name)).toEqual(['admin', 'reader']);
    const reader = store.scram.verifiers[1]!;
    expect(reader.storedKey).toEqual(scramKeys('reader-token-abcdefgh', store.scram.salt, 4096).storedKey);
    expect(JSON.stringify(store.scram)).not.toContain('reader-token-abcdefgh');
    expect(store.hasTokensWithoutScram).toBe(true);
    expect(new TokenStore(ADMIN).hasTokensWithoutScram).toBe(false);
  });
});
