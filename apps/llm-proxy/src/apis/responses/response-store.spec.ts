import { MemoryResponseStore } from './response-store';

describe('MemoryResponseStore', () => {
  const entry = { owner: 'a', response: { id: 'r' }, input: [] };

  it('forgets a response after its TTL', async () => {
    let now = 1000;
    const store = new MemoryResponseStore(500, 10, () => now);
    await store.put('r', entry);
    now = 1499;
    expect(await store.get('r')).toEqual(entry);
    now = 1500;
    expect(await store.get('r')).toBeUndefined();
  });

  it('drops the oldest responses past its size, and deletes on request', async () => {
    const store = new MemoryResponseStore(60_000, 2);
    await store.put('a', entry);
    await store.put('b', entry);
    await store.put('c', entry);
    expect(await store.get('a')).toBeUndefined();
    expect(await store.get('c')).toEqual(entry);
    expect(await store.delete('b')).toBe(true);
    expect(await store.delete('b')).toBe(false);
  });
});
