import { StdioMessageBuffer, parseStdioMessage } from './stdio-messages';

describe('stdio messages', () => {
  it('reads newline-delimited messages across chunks, with CRLF, and keeps the rest', () => {
    const buffer = new StdioMessageBuffer();
    buffer.append(Buffer.from('{"jsonrpc":"2.0","id":1,"result":{"content":[]}}\r\n{"jsonrpc":"2.0",'));
    expect(buffer.readMessage()).toEqual({ jsonrpc: '2.0', id: 1, result: { content: [] } });
    expect(buffer.readMessage()).toBeNull();
    buffer.append(Buffer.from('"method":"notifications/tools/list_changed"}\n'));
    expect(buffer.readMessage()).toEqual({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    expect(buffer.readMessage()).toBeNull();
  });

  it('checks every other shape with the SDK schema', () => {
    expect(parseStdioMessage('{"jsonrpc":"2.0","id":"a","result":{"_meta":{"x":1},"ok":true}}')).toMatchObject({ id: 'a' });
    expect(parseStdioMessage('{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"no such method"}}')).toMatchObject({ error: { code: -32601 } });
    expect(parseStdioMessage('{"jsonrpc":"2.0","id":3,"method":"ping"}')).toMatchObject({ method: 'ping' });
    for (const bad of [
      '{"jsonrpc":"1.0","id":1,"result":{}}',
      '{"jsonrpc":"2.0","id":1.5,"result":{}}',
      '{"jsonrpc":"2.0","id":1,"result":[]}',
      '{"jsonrpc":"2.0","id":1,"result":{},"extra":true}',
      '{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":1}}',
      '[]',
      'not json',
    ]) {
      expect(() => parseStdioMessage(bad)).toThrow();
    }
  });

  it('drops the buffer and says so past the size cap', () => {
    const buffer = new StdioMessageBuffer(16);
    expect(() => buffer.append(Buffer.alloc(17, 0x61))).toThrow(/exceeded 16 bytes/);
    expect(buffer.readMessage()).toBeNull();
  });
});
