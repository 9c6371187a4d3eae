import { callerResponseHeaders, upstreamRequestHeaders } from './header-policy';

describe('header policy', () => {
  it('drops the caller token, host, expect and hop-by-hop headers, including those Connection lists', () => {
    const out = upstreamRequestHeaders(
      {
        authorization: 'Bearer patchbay-token',
        host: 'broker:7500',
        expect: '100-continue',
        connection: 'keep-alive, x-hop',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'proxy-authorization': 'Basic eA==',
        upgrade: 'h2c',
        te: 'trailers',
        'x-hop': 'only this hop',
        'content-type': 'application/json',
        'content-length': '12',
        accept: 'text/event-stream',
        'set-cookie': ['a=1', 'b=2'],
      },
      {},
    );
    expect(out).toEqual({ 'content-type': 'application/json', 'content-length': '12', accept: 'text/event-stream', 'set-cookie': ['a=1', 'b=2'] });
  });

  it('lets the injected headers win over caller headers of the same name', () => {
    const out = upstreamRequestHeaders({ 'x-api-key': 'caller-guess', 'x-team': 'caller' }, { 'x-api-key': 'connector-secret' });
    expect(out).toEqual({ 'x-api-key': 'connector-secret', 'x-team': 'caller' });
  });

  it('keeps a header named __proto__ a plain header', () => {
    const incoming = JSON.parse('{"__proto__": "x", "accept": "*/*"}') as Record<string, string>;
    const out = upstreamRequestHeaders(incoming, {});
    expect(Object.keys(out).sort()).toEqual(['__proto__', 'accept']);
  });

  it('relays response headers without hop-by-hop ones', () => {
    expect(
      callerResponseHeaders({
        connection: 'close, x-internal',
        'x-internal': '1',
        'transfer-encoding': 'chunked',
        'content-type': 'text/plain',
        'set-cookie': ['s=1'],
      }),
    ).toEqual({ 'content-type': 'text/plain', 'set-cookie': ['s=1'] });
  });
});
