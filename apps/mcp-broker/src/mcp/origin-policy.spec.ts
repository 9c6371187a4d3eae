import { LOOPBACK_ORIGINS, originAllowed, parseOriginList, type OriginPolicy } from './origin-policy';

function policy(list: string): OriginPolicy {
  const parsed = parseOriginList(list);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

describe('origin policy', () => {
  const loopback = policy(LOOPBACK_ORIGINS.join(','));

  it('allows loopback origins on any port by default, and nothing else', () => {
    for (const origin of ['http://localhost', 'http://localhost:5173', 'http://127.0.0.1:8080', 'https://[::1]:3000', 'HTTP://LOCALHOST:1']) {
      expect(originAllowed(loopback, origin)).toBe(true);
    }
    for (const origin of [
      'http://evil.example',
      'http://localhost.evil.example',
      'http://127.0.0.1.nip.io:80',
      'null',
      'file://',
      'http://localhost:5173/path',
    ]) {
      expect(originAllowed(loopback, origin)).toBe(false);
    }
  });

  it('matches listed origins exactly, default ports included', () => {
    const listed = policy(' https://app.example.com , http://localhost:3000/,https://ide.example.com:443');
    expect(originAllowed(listed, 'https://app.example.com')).toBe(true);
    expect(originAllowed(listed, 'https://app.example.com:443')).toBe(true);
    expect(originAllowed(listed, 'https://ide.example.com')).toBe(true);
    expect(originAllowed(listed, 'http://localhost:3000')).toBe(true);
    expect(originAllowed(listed, 'http://app.example.com')).toBe(false);
    expect(originAllowed(listed, 'https://app.example.com:8443')).toBe(false);
    expect(originAllowed(listed, 'http://localhost:3001')).toBe(false);
  });

  it('allows every origin with *', () => {
    expect(originAllowed(policy('*'), 'null')).toBe(true);
    expect(originAllowed(policy('*'), 'https://anything.example')).toBe(true);
  });

  it('rejects entries that are not origins, by position and without echoing them', () => {
    const problem = parseOriginList('https://ok.example, https://bad.example/path');
    expect(problem).toEqual(expect.stringContaining('entry 2'));
    expect(problem).not.toEqual(expect.stringContaining('bad.example'));
    expect(typeof parseOriginList('localhost:3000')).toBe('string');
  });
});
