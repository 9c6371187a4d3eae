import { nativeApis, upstreamApiFor } from './wire-api';

describe('upstreamApiFor', () => {
  const openai = nativeApis('openai', undefined);
  const anthropic = nativeApis('anthropic', undefined);
  const both = nativeApis('openai', ['chat', 'responses']);

  it('speaks the client API natively where the connector serves it', () => {
    expect(upstreamApiFor('chat', openai)).toBe('chat');
    expect(upstreamApiFor('messages', anthropic)).toBe('messages');
    expect(upstreamApiFor('responses', both)).toBe('responses');
    expect(upstreamApiFor('count_tokens', anthropic)).toBe('count_tokens');
  });

  it('translates through Chat Completions, else through Messages', () => {
    expect(upstreamApiFor('responses', openai)).toBe('chat');
    expect(upstreamApiFor('messages', openai)).toBe('chat');
    expect(upstreamApiFor('chat', anthropic)).toBe('messages');
    expect(upstreamApiFor('responses', anthropic)).toBe('messages');
  });

  it('has no translation for completions, embeddings or counting', () => {
    expect(upstreamApiFor('embeddings', anthropic)).toBeUndefined();
    expect(upstreamApiFor('completions', anthropic)).toBeUndefined();
    expect(upstreamApiFor('count_tokens', openai)).toBeUndefined();
    expect(upstreamApiFor('embeddings', nativeApis('openai', ['responses']))).toBeUndefined();
  });
});
