import { SseParser } from './sse';

describe('SseParser', () => {
  it('frames one-line, multi-line, named and CRLF events, and keeps a partial event for the next chunk', () => {
    const parser = new SseParser();
    expect(parser.push('data: {"a":1}\n\ndata:b\ndata: c\n\nevent: ping\r\ndata: {}\r\n\r\n: comment\n\ndata: par')).toEqual([
      { event: undefined, data: '{"a":1}' },
      { event: undefined, data: 'b\nc' },
      { event: 'ping', data: '{}' },
    ]);
    expect(parser.push('tial\n\n')).toEqual([{ event: undefined, data: 'partial' }]);
  });
});
