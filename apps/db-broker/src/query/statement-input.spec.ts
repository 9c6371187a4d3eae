import { ErrorCode, PatchbayError } from '@patchbay/core';
import { MAX_PARAMS, MAX_PARAM_DEPTH, assertParams, assertSqlText } from './statement-input';

function refusal(check: () => void): PatchbayError {
  try {
    check();
  } catch (error) {
    if (error instanceof PatchbayError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

function nestedArrays(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function nestedObjects(depth: number): unknown {
  let value: unknown = {};
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

describe('statement input checks', () => {
  it('refuses NUL in SQL text, naming the field and the offset', () => {
    const error = refusal(() => assertSqlText('SELECT 1\u0000', 'queries.2.sql'));
    expect(error).toMatchObject({ code: ErrorCode.VALIDATION, status: 400, details: { field: 'queries.2.sql' } });
    expect(error.message).toMatch(/^queries\.2\.sql contains a NUL character .* offset 8/);
    expect(() => assertSqlText("SELECT '\\0', E'\\\\x00'", 'sql')).not.toThrow();
  });

  it('refuses NUL in text params and in array elements, not inside JSON objects', () => {
    expect(refusal(() => assertParams([1, 'a\u0000'], 'params')).details).toEqual({ field: 'params.1' });
    expect(refusal(() => assertParams([['ok', ['x', '\u0000']]], 'params')).details).toEqual({ field: 'params.0.1.1' });
    expect(() => assertParams([{ a: 'x\u0000' }, [{ b: '\u0000' }]], 'params')).not.toThrow();
    expect(() => assertParams([null, true, 1.5, 'text', ['a', null, 2], { n: 1 }], 'params')).not.toThrow();
    expect(() => assertParams(undefined, 'params')).not.toThrow();
  });

  it('refuses more parameters than Postgres takes', () => {
    expect(() =>
      assertParams(
        Array.from({ length: MAX_PARAMS }, () => 1),
        'params',
      ),
    ).not.toThrow();
    const error = refusal(() =>
      assertParams(
        Array.from({ length: MAX_PARAMS + 1 }, () => 1),
        'queries.0.params',
      ),
    );
    expect(error.message).toMatch(/^queries\.0\.params has 65536 values; Postgres takes at most 65535/);
  });

  it('refuses values nested deeper than the driver can encode', () => {
    expect(() => assertParams([nestedArrays(MAX_PARAM_DEPTH)], 'params')).not.toThrow();
    expect(() => assertParams([nestedObjects(MAX_PARAM_DEPTH - 1)], 'params')).not.toThrow();
    expect(refusal(() => assertParams([nestedArrays(MAX_PARAM_DEPTH + 1)], 'params')).message).toMatch(/^params\.0 is nested more than 100 levels/);
    expect(refusal(() => assertParams(['x', [nestedObjects(50_000)]], 'params')).details).toEqual({ field: 'params.1' });
  });

  it('refuses integers a JSON number cannot carry exactly', () => {
    expect(refusal(() => assertParams([2 ** 53], 'params')).message).toMatch(/^params\.0 is 9007199254740992, an integer beyond/);
    expect(refusal(() => assertParams([[1, -(2 ** 60)]], 'params')).details).toEqual({ field: 'params.0.1' });
    expect(() => assertParams([Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0.1, '9007199254740993', { big: 2 ** 60 }], 'params')).not.toThrow();
  });
});
