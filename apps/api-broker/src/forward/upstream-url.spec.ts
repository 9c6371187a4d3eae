import { ErrorCode } from '@patchbay/core';
import { parseUpstreamBase, restOfUrl, upstreamPath } from './upstream-url';

describe('upstream url', () => {
  const base = parseUpstreamBase('https://api.example.com:8443/v2/?api-version=7');

  it('splits a connector url', () => {
    expect(base).toEqual({ origin: 'https://api.example.com:8443', basePath: '/v2', baseQuery: 'api-version=7' });
    expect(parseUpstreamBase('http://h')).toEqual({ origin: 'http://h', basePath: '', baseQuery: '' });
  });

  it('refuses what is not an http(s) url, and user info in it', () => {
    expect(() => parseUpstreamBase('postgres://h/db')).toThrow('http or https');
    expect(() => parseUpstreamBase('not a url')).toThrow('not a valid URL');
    expect(() => parseUpstreamBase('https://u:secret@h/')).toThrow('credentials');
  });

  it('takes the rest of the raw url after the prefix, encoding kept', () => {
    expect(restOfUrl('/v1/apis/API/a%2Fb/c?x=1&y=%20', 3)).toBe('/a%2Fb/c?x=1&y=%20');
    expect(restOfUrl('/v1/apis/API', 3)).toBe('');
    expect(restOfUrl('/v1/apis/API/', 3)).toBe('/');
    expect(restOfUrl('/v1/apis/API?q=1', 3)).toBe('?q=1');
  });

  it('joins base path, rest and both queries', () => {
    expect(upstreamPath(base, '/users/7?page=2')).toBe('/v2/users/7?api-version=7&page=2');
    expect(upstreamPath(base, '')).toBe('/v2?api-version=7');
    expect(upstreamPath(parseUpstreamBase('http://h'), '')).toBe('/');
    expect(upstreamPath(parseUpstreamBase('http://h/'), '/x/')).toBe('/x/');
  });

  it.each(['/../admin', '/a/./b', '/%2e%2E/admin', '/..%2fadmin', '/a/..%5cb'])('refuses the dot segment in %s', (rest) => {
    expect(() => upstreamPath(base, rest)).toThrow(expect.objectContaining({ code: ErrorCode.VALIDATION }));
  });

  it('allows dots inside names', () => {
    expect(upstreamPath(base, '/file..txt/.well-known')).toBe('/v2/file..txt/.well-known?api-version=7');
  });
});
