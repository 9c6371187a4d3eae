import type { ConnectorRow } from './connector.model';
import { ConnectorCache } from './connector-cache';

const row = (revision: number): ConnectorRow => ({ configId: 'A', revision }) as unknown as ConnectorRow;

describe('ConnectorCache', () => {
  it('serves repeated reads from memory until invalidated', async () => {
    const cache = new ConnectorCache();
    const load = jest.fn(async () => row(1));
    await cache.get('A', load);
    await cache.get('A', load);
    expect(load).toHaveBeenCalledTimes(1);
    cache.invalidate('A');
    await cache.get('A', load);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('never caches a row whose read raced an invalidation', async () => {
    const cache = new ConnectorCache();
    let release!: (r: ConnectorRow) => void;
    const slowRead = cache.get('A', () => new Promise<ConnectorRow>((resolve) => (release = resolve)));
    cache.invalidate(); // a writer committed revision 2 while the read of revision 1 was in flight
    release(row(1));
    expect((await slowRead)?.revision).toBe(1);
    const fresh = await cache.get('A', async () => row(2));
    expect(fresh?.revision).toBe(2);
  });

  it('does not cache absent connectors and bounds its size', async () => {
    const cache = new ConnectorCache(2);
    const missing = jest.fn(async () => undefined);
    await cache.get('X', missing);
    await cache.get('X', missing);
    expect(missing).toHaveBeenCalledTimes(2);
    const load = jest.fn(async () => row(1));
    await cache.get('A', load);
    await cache.get('B', load);
    await cache.get('C', load);
    await cache.get('A', load);
    expect(load).toHaveBeenCalledTimes(4);
  });
});
