import { injectedHeaders } from './credentials';

describe('credential injection', () => {
  it('sends the api key as a bearer token by default', () => {
    expect(injectedHeaders({ apiKey: 'sk-1' }, {})).toEqual({ authorization: 'Bearer sk-1' });
  });

  it('sends the api key in the named header instead when options say so', () => {
    expect(injectedHeaders({ apiKey: 'sk-1' }, { apiKeyHeader: 'X-Api-Key' })).toEqual({ 'x-api-key': 'sk-1' });
  });

  it('sends username and password as Basic', () => {
    expect(injectedHeaders({ username: 'ann', password: 'p:w' }, {})).toEqual({ authorization: `Basic ${Buffer.from('ann:p:w').toString('base64')}` });
    expect(injectedHeaders({ username: 'ann' }, {})).toEqual({ authorization: `Basic ${Buffer.from('ann:').toString('base64')}` });
  });

  it('gives Authorization to the api key over Basic, and Basic when the key has its own header', () => {
    expect(injectedHeaders({ apiKey: 'k', username: 'u', password: 'p' }, {})).toEqual({ authorization: 'Bearer k' });
    expect(injectedHeaders({ apiKey: 'k', username: 'u', password: 'p' }, { apiKeyHeader: 'x-key' })).toEqual({
      'x-key': 'k',
      authorization: `Basic ${Buffer.from('u:p').toString('base64')}`,
    });
  });

  it('adds options.headers, with credentials winning over a stale Authorization among them', () => {
    expect(injectedHeaders({ apiKey: 'new' }, { headers: { 'X-Team': 'blue', Authorization: 'Bearer old' } })).toEqual({
      'x-team': 'blue',
      authorization: 'Bearer new',
    });
    expect(injectedHeaders(undefined, { headers: { Authorization: 'Token t' } })).toEqual({ authorization: 'Token t' });
  });
});
