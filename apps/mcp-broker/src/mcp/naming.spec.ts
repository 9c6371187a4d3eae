import { MAX_NAME_LENGTH, namespacedName } from './naming';

describe('namespacedName', () => {
  it('joins the server id and the name with a double underscore', () => {
    expect(namespacedName('memory', 'create_entities')).toBe('memory__create_entities');
    expect(namespacedName('everything', 'get-sum')).toBe('everything__get-sum');
  });

  it('keeps long names within 64 characters, stably and distinctly', () => {
    const long = 'a'.repeat(70);
    const first = namespacedName('server', long);
    expect(first).toHaveLength(MAX_NAME_LENGTH);
    expect(first.startsWith('server__aaaa')).toBe(true);
    expect(first).toMatch(/_[0-9a-f]{8}$/);
    expect(namespacedName('server', long)).toBe(first);
    expect(namespacedName('server', `${long}b`)).not.toBe(first);
  });

  it('leaves a name of exactly 64 characters alone', () => {
    const name = 'x'.repeat(MAX_NAME_LENGTH - 'srv__'.length);
    expect(namespacedName('srv', name)).toBe(`srv__${name}`);
  });

  it('replaces characters MCP clients reject and keeps such names distinct', () => {
    const spaced = namespacedName('srv', 'say hello');
    const underscored = namespacedName('srv', 'say_hello');
    expect(spaced).toMatch(/^[A-Za-z0-9_.-]+$/);
    expect(spaced).not.toBe(underscored);
  });
});
