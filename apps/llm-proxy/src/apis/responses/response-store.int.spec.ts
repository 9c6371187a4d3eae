import { Redis } from 'ioredis';
import { testRedisUrl, uniquePrefix } from '@patchbay/testkit';
import { RedisResponseStore } from './response-store';

describe('RedisResponseStore (the store every replica shares)', () => {
  const entry = { owner: 'a', response: { id: 'resp_1', output: [] }, input: [{ type: 'message', role: 'user', content: 'hi' }] };
  const prefix = uniquePrefix();
  const store = new RedisResponseStore(testRedisUrl(), prefix, 400);
  const redis = new Redis(testRedisUrl());

  afterAll(async () => {
    await store.close();
    await redis.quit();
  });

  it('keeps a response under its prefix with the TTL as a Redis expiry, and lets Redis forget it', async () => {
    await store.put('resp_1', entry);
    expect(await store.get('resp_1')).toEqual(entry);
    const ttl = await redis.pttl(`${prefix}llm:responses:resp_1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(400);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await store.get('resp_1')).toBeUndefined();
  });

  it('deletes on request, saying whether there was one', async () => {
    await store.put('resp_2', entry);
    expect(await store.delete('resp_2')).toBe(true);
    expect(await store.delete('resp_2')).toBe(false);
    expect(await store.get('resp_2')).toBeUndefined();
  });
});
