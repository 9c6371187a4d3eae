import { newId } from './ids';

describe('newId', () => {
  it('makes prefixed ids of 32 hex digits, distinct across many pool refills', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = newId('resp');
      expect(id).toMatch(/^resp_[0-9a-f]{32}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(2000);
  });
});
