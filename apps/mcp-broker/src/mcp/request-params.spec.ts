import { paramsProblem } from './request-params';

describe('request params', () => {
  it('says what a tools/call lacks', () => {
    expect(paramsProblem('tools/call', undefined)).toContain('params.name');
    expect(paramsProblem('tools/call', { arguments: {} })).toContain('params.name');
    expect(paramsProblem('tools/call', { name: '' })).toContain('params.name');
    expect(paramsProblem('tools/call', { name: 'a__b', arguments: [] })).toContain('params.arguments');
    expect(paramsProblem('tools/call', [1])).toContain('must be an object');
    expect(paramsProblem('tools/call', { name: 'a__b' })).toBeUndefined();
    expect(paramsProblem('tools/call', { name: 'a__b', arguments: { x: 1 } })).toBeUndefined();
  });

  it('checks prompts/get and resources/read, and leaves other methods to the SDK', () => {
    expect(paramsProblem('prompts/get', { arguments: { a: 'b' } })).toContain('params.name');
    expect(paramsProblem('prompts/get', { name: 'p', arguments: { a: 1 } })).toContain('string values');
    expect(paramsProblem('prompts/get', { name: 'p', arguments: { a: 'b' } })).toBeUndefined();
    expect(paramsProblem('resources/read', {})).toContain('params.uri');
    expect(paramsProblem('resources/read', { uri: 'demo://x' })).toBeUndefined();
    expect(paramsProblem('tools/list', 'anything')).toBeUndefined();
    expect(paramsProblem(undefined, undefined)).toBeUndefined();
  });
});
