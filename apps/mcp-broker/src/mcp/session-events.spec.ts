import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { MemorySessionEvents, parseEventId } from './session-events';

const note = (n: number): JSONRPCMessage => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: n } });

describe('MemorySessionEvents', () => {
  it('replays the events of one stream after an id, priming events left out', async () => {
    const events = new MemorySessionEvents();
    const store = events.forSession('s1');
    const priming = await store.storeEvent('post-1', {} as JSONRPCMessage);
    const first = await store.storeEvent('post-1', note(1));
    await store.storeEvent('_GET_stream', note(99));
    await store.storeEvent('post-1', note(2));
    const sent: [string, JSONRPCMessage][] = [];
    const stream = await store.replayEventsAfter(priming, { send: async (id, message) => void sent.push([id, message]) });
    expect(stream).toBe('post-1');
    expect(sent.map(([, m]) => m)).toEqual([note(1), note(2)]);
    expect(sent[0]?.[0]).toBe(first);
  });

  it('keeps only the last events of a session, and knows no id of another session', async () => {
    const events = new MemorySessionEvents(2);
    const store = events.forSession('s1');
    const ids = [];
    for (let n = 0; n < 4; n++) ids.push(await store.storeEvent('post', note(n)));
    expect((await events.after('s1', ids[0]!))?.events.map((e) => e.message)).toEqual([note(2), note(3)]);
    expect(await events.after('s2', ids[0]!)).toBeUndefined();
    expect(await store.getStreamIdForEventId?.('post/999')).toBeUndefined();
    await events.remove('s1');
    expect(await events.after('s1', ids[0]!)).toBeUndefined();
  });
});

describe('MemorySessionEvents, by size', () => {
  it('drops the oldest events once a session holds more bytes than allowed', async () => {
    const events = new MemorySessionEvents(100, 300);
    const store = events.forSession('s1');
    const start = await store.storeEvent('post', {} as JSONRPCMessage);
    for (let n = 0; n < 5; n++) await store.storeEvent('post', note(n));
    const kept = (await events.after('s1', start))?.events.map((e) => e.message) ?? [];
    expect(kept.length).toBeLessThan(5);
    expect(kept.at(-1)).toEqual(note(4));
  });
});

describe('parseEventId', () => {
  it('splits at the last slash and refuses what has no stream or position', () => {
    expect(parseEventId('_GET_stream/1700-0')).toEqual({ streamId: '_GET_stream', position: '1700-0' });
    expect(parseEventId('no-slash')).toBeUndefined();
    expect(parseEventId('/1')).toBeUndefined();
    expect(parseEventId('stream/')).toBeUndefined();
  });
});
