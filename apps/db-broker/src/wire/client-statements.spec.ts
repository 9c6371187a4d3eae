import { ClientStatements } from './client-statements';

/** A Bind-like buffer with `name` at offset 2, NUL-terminated. */
function named(name: string): { buffer: Buffer; start: number; end: number } {
  const buffer = Buffer.concat([Buffer.from([0x42, 0]), Buffer.from(name, 'utf8'), Buffer.from([0])]);
  return { buffer, start: 2, end: buffer.length - 1 };
}

describe('ClientStatements', () => {
  it('finds a statement by the bytes of its name, also again from another buffer', () => {
    const statements = new ClientStatements<string>();
    statements.set('s1', 'first');
    statements.set('só', 'accented');
    const a = named('s1');
    expect(statements.getByBytes(a.buffer, a.start, a.end)).toBe('first');
    // The client's buffer is reused for its next message: the kept name is a copy.
    a.buffer.fill(0x7a);
    const again = named('s1');
    expect(statements.getByBytes(again.buffer, again.start, again.end)).toBe('first');
    const accented = named('só');
    expect(statements.getByBytes(accented.buffer, accented.start, accented.end)).toBe('accented');
    const unknown = named('s2');
    expect(statements.getByBytes(unknown.buffer, unknown.start, unknown.end)).toBeUndefined();
  });

  it('answers from the map after every change, not from the last lookup', () => {
    const statements = new ClientStatements<string>();
    statements.set('s1', 'first');
    const name = named('s1');
    expect(statements.getByBytes(name.buffer, name.start, name.end)).toBe('first');
    // Parsed again under the same name.
    statements.set('s1', 'second');
    expect(statements.getByBytes(name.buffer, name.start, name.end)).toBe('second');
    expect(statements.delete('s1')).toBe(true);
    expect(statements.getByBytes(name.buffer, name.start, name.end)).toBeUndefined();
    statements.set('s1', 'third');
    expect(statements.getByBytes(name.buffer, name.start, name.end)).toBe('third');
    statements.clear();
    expect(statements.getByBytes(name.buffer, name.start, name.end)).toBeUndefined();
    expect(statements.get('s1')).toBeUndefined();
  });
});
