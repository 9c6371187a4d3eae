import { FrameReader, message } from './protocol';

describe('FrameReader', () => {
  it('reads messages in place up to the length read into a reused buffer, and joins an incomplete one with the next read', () => {
    const reader = new FrameReader();
    const buffer = Buffer.alloc(64, 0xff);
    const sync = message('S');
    const query = message('Q', Buffer.from('SELECT 1\0'));
    // One read: a Sync and the first 3 bytes of a Query; the rest of the buffer is stale.
    sync.copy(buffer, 0);
    query.copy(buffer, sync.length, 0, 3);
    reader.push(buffer, sync.length + 3);
    const first = reader.next();
    expect(first?.type).toBe(0x53);
    expect(first?.bytes).toBe(buffer);
    expect(first?.raw).toEqual(sync);
    expect(reader.next()).toBeUndefined();
    expect(reader.buffered).toBe(3);
    // Bytes left unread keep the buffer (the socket reads into a new one); the rest arrives there.
    const next = Buffer.alloc(64, 0xee);
    query.copy(next, 0, 3);
    reader.push(next, query.length - 3);
    const second = reader.next();
    expect(second?.raw).toEqual(query);
    expect(second?.body.toString()).toBe('SELECT 1\0');
    expect(second?.at(5)).toBe(0x53);
    expect(reader.buffered).toBe(0);
  });
});
