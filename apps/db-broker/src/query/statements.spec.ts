import { ErrorCode } from '@patchbay/core';
import { assertPoolSafe, assertSqlLength, mayHoldSeveralStatements } from './statements';

describe('assertPoolSafe', () => {
  it.each(['BEGIN', '  begin;', 'START TRANSACTION', 'commit', '/* x */ ROLLBACK', '-- c\nSET search_path = x', 'reset all', 'LISTEN foo', 'DISCARD ALL'])(
    'refuses %j on a pooled connection',
    (sql) => {
      expect(() => assertPoolSafe(sql, 'query')).toThrow(expect.objectContaining({ code: ErrorCode.VALIDATION }));
    },
  );

  it.each([
    'SELECT 1',
    'SET LOCAL statement_timeout = 10',
    'INSERT INTO settings VALUES (1)',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    'select * from beginnings',
  ])('accepts %j', (sql) => {
    expect(() => assertPoolSafe(sql, 'query')).not.toThrow();
  });
});

describe('assertSqlLength', () => {
  it('answers 413 past the limit', () => {
    expect(() => assertSqlLength('x'.repeat(11), 10, 'query')).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD_TOO_LARGE }));
    expect(() => assertSqlLength('x'.repeat(10), 10, 'query')).not.toThrow();
  });
});

describe('mayHoldSeveralStatements', () => {
  it.each([
    'SELECT 1',
    'SELECT 1;',
    'SELECT 1; -- done',
    "SELECT ';' AS semi",
    'SELECT $$a;b$$',
    'SELECT $x$ ; $x$',
    'SELECT "a;b" FROM t',
    'SELECT 1 /* ; */',
  ])('%j is one statement', (sql) => {
    expect(mayHoldSeveralStatements(sql)).toBe(false);
  });

  it.each(['SELECT 1; SELECT 2', "SELECT 'x'; DROP TABLE t", 'SELECT $$a$$; SELECT 2', "SELECT 'unterminated", 'SELECT 1 /* open', 'SELECT $q$ open'])(
    '%j may hold several',
    (sql) => {
      expect(mayHoldSeveralStatements(sql)).toBe(true);
    },
  );
});
