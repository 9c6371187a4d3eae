import type { Operation } from './operation';
import { OperationRouter } from './router';

const op = (id: string, method: Operation['method'], path: string): Operation =>
  ({ id, method, path, summary: id, handle: () => undefined }) as unknown as Operation;

describe('OperationRouter', () => {
  const router = new OperationRouter([
    op('item', 'GET', '/v1/items/:id'),
    op('stats', 'GET', '/v1/items/stats'),
    op('list', 'GET', '/v1/items'),
    op('create', 'POST', '/v1/items'),
    op('files', 'GET', '/v1/files/*path'),
    op('fallback', 'ANY', '/v1/:anything'),
  ]);
  const hit = (method: string, path: string): [string, Record<string, string>] | undefined => {
    const match = router.match(method, path);
    return match && [match.operation.id, match.params];
  };

  it('matches literal paths by method, before routes with parameters', () => {
    expect(hit('GET', '/v1/items')).toEqual(['list', {}]);
    expect(hit('POST', '/v1/items')).toEqual(['create', {}]);
    expect(hit('GET', '/v1/items/stats')).toEqual(['stats', {}]);
    expect(hit('GET', '/v1/items/42')).toEqual(['item', { id: '42' }]);
  });

  it('takes the rest of the path for a *rest segment, and falls back to ANY routes', () => {
    expect(hit('GET', '/v1/files/a/b.txt')).toEqual(['files', { path: 'a/b.txt' }]);
    expect(hit('GET', '/v1/files/')).toEqual(['files', { path: '' }]);
    expect(hit('DELETE', '/v1/items')).toEqual(['fallback', { anything: 'items' }]);
  });

  it('does not match a trailing slash, an empty parameter or a longer path', () => {
    expect(hit('GET', '/v1/items/')).toBeUndefined();
    expect(hit('POST', '/v1/items/')).toBeUndefined();
    expect(hit('GET', '/v1/items/42/more')).toBeUndefined();
    expect(hit('GET', '/v2/items')).toBeUndefined();
  });
});
