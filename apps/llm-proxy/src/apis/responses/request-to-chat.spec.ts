import { responsesRequestToChat } from './request-to-chat';

describe('responsesRequestToChat', () => {
  it('carries each sampling and routing field over (max_output_tokens as max_tokens), leaving unset and null ones out', () => {
    const chat = responsesRequestToChat(
      {
        model: 'm',
        instructions: 'Be terse.',
        input: 'hi',
        temperature: 0,
        top_p: 0.5,
        max_output_tokens: 64,
        parallel_tool_calls: false,
        user: 'u1',
        seed: 7,
        prompt_cache_key: 'k',
        safety_identifier: 's',
        service_tier: 'flex',
        store: false,
      },
      [],
    );
    expect(chat).toEqual({
      model: 'm',
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'hi' },
      ],
      temperature: 0,
      top_p: 0.5,
      max_tokens: 64,
      parallel_tool_calls: false,
      user: 'u1',
      seed: 7,
      prompt_cache_key: 'k',
      safety_identifier: 's',
      service_tier: 'flex',
    });
    expect(responsesRequestToChat({ model: 'm', input: 'hi', temperature: null, top_p: null, user: null }, [])).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
    });
  });
});
