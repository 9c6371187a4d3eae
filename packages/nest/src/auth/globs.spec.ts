import { compileNameFilter } from './globs';

describe('compileNameFilter', () => {
  it('matches whole names with * and ?, case-sensitively', () => {
    const pass = compileNameFilter(['everything__get*', 'memory__read_grap?']);
    expect(pass('everything__get-sum')).toBe(true);
    expect(pass('everything__echo')).toBe(false);
    expect(pass('xeverything__get-sum')).toBe(false);
    expect(pass('memory__read_graph')).toBe(true);
    expect(pass('memory__read_graphs')).toBe(false);
    expect(pass('Memory__read_graph')).toBe(false);
  });

  it('treats regex characters literally', () => {
    const pass = compileNameFilter(['a.b__(x)+']);
    expect(pass('a.b__(x)+')).toBe(true);
    expect(pass('aXb__(x)+')).toBe(false);
  });

  it('excludes with !, alone or after inclusions', () => {
    const some = compileNameFilter(['everything__*', '!everything__trigger-*']);
    expect(some('everything__echo')).toBe(true);
    expect(some('everything__trigger-sampling-request')).toBe(false);
    const allBut = compileNameFilter(['!*__delete*']);
    expect(allBut('memory__read_graph')).toBe(true);
    expect(allBut('memory__delete_entities')).toBe(false);
  });

  it('lets nothing through an empty list', () => {
    expect(compileNameFilter([])('anything')).toBe(false);
  });
});
