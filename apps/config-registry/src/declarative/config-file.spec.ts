import { ErrorCode, PatchbayError } from '@patchbay/core';
import { parseApplyBody, parseYaml } from './config-file';

function validationOf(fn: () => unknown): PatchbayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PatchbayError && error.code === ErrorCode.VALIDATION) return error;
    throw error;
  }
  throw new Error('expected a VALIDATION error');
}

describe('parseYaml', () => {
  it('reads anchors and aliases used normally', () => {
    expect(parseYaml('base: &b {type: api}\nconnectors:\n  A: *b\n  B: *b\n', 'doc')).toEqual({
      base: { type: 'api' },
      connectors: { A: { type: 'api' }, B: { type: 'api' } },
    });
  });

  it('rejects an alias bomb with VALIDATION instead of expanding it', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [name, previous] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
      ['h', 'g'],
    ]) {
      lines.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`);
    }
    const error = validationOf(() => parseApplyBody(lines.join('\n')));
    expect(error.message).toContain('apply body is rejected');
    expect(error.message).toContain('aliases');
  });

  it('rejects flow and block nesting deep enough to exhaust the parser stack, before parsing', () => {
    expect(validationOf(() => parseYaml(`${'['.repeat(20_000)}${']'.repeat(20_000)}`, 'doc')).message).toContain('doc is rejected: it nests too deeply');
    let block = '';
    for (let i = 0; i < 1000; i++) block += `${' '.repeat(i)}k:\n# a comment at column 0\n`;
    expect(validationOf(() => parseYaml(block, 'doc')).message).toContain('nests too deeply');
    expect(validationOf(() => parseYaml(`${'- '.repeat(1000)}x\n`, 'doc')).message).toContain('nests too deeply');
  });

  it('still reads a document 32 levels deep', () => {
    let text = 'connectors:\n  A:\n    type: api\n    options:\n';
    for (let i = 0; i < 28; i++) text += `${' '.repeat(6 + 2 * i)}k:\n`;
    text += `${' '.repeat(62)}- [x, {y: z}]\n`;
    expect(parseApplyBody(text).connectors).toHaveLength(1);
  });
});
