import { isPatchbayError, type PatchbayError } from '@patchbay/core';
import { anthropicRefusal, chatRequestToAnthropic } from './messages/chat-request-to-anthropic';
import { messagesRequestToChat } from './messages/request-to-chat';
import { responsesRequestToChat } from './responses/request-to-chat';
import type { Json } from './sse';

const chat = (extra: Json): Json => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });

function thrown(run: () => unknown): PatchbayError {
  try {
    run();
  } catch (error) {
    if (isPatchbayError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('Chat Completions to an anthropic connector: every field maps or is refused', () => {
  it.each([
    ['seed', { seed: 7 }, 'seed'],
    ['frequency_penalty', { frequency_penalty: 0.5 }, 'frequency_penalty'],
    ['presence_penalty', { presence_penalty: -1 }, 'presence_penalty'],
    ['logit_bias', { logit_bias: { '50256': -100 } }, 'logit_bias'],
    ['store', { store: true }, 'store'],
    ['metadata', { metadata: { run: 'a' } }, 'metadata'],
    ['modalities with audio', { modalities: ['text', 'audio'] }, 'modalities'],
    ['audio', { audio: { voice: 'alloy', format: 'mp3' } }, 'audio'],
    ['prediction', { prediction: { type: 'content', content: 'x' } }, 'prediction'],
    ['reasoning_effort', { reasoning_effort: 'high' }, 'reasoning_effort'],
    ['verbosity', { verbosity: 'low' }, 'verbosity'],
    ['functions (legacy)', { functions: [{ name: 'f' }] }, 'functions'],
    ['function_call (legacy)', { function_call: 'auto' }, 'function_call'],
    ['web_search_options', { web_search_options: {} }, 'web_search_options'],
    ['an unknown field', { repetition_penalty: 1.1 }, 'repetition_penalty'],
    ['temperature above 1', { temperature: 1.5 }, 'temperature'],
    ['a service tier Anthropic lacks', { service_tier: 'flex' }, 'service_tier'],
    ['a custom tool', { tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'tools[0].type'],
    ['allowed_tools tool_choice', { tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } } }, 'tool_choice'],
    [
      'an audio content part',
      { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }] }] },
      'messages[0].content[0].type',
    ],
    ['a file content part', { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'f' } }] }] }, 'messages[0].content[0].type'],
    ['a function-role message', { messages: [{ role: 'function', name: 'f', content: 'x' }] }, 'messages[0].role'],
  ])('refuses %s, naming it', (_name, extra, param) => {
    const refusal = anthropicRefusal(chat(extra), 'chat');
    expect(refusal?.details).toMatchObject({ param, code: 'unsupported_parameter' });
    expect(refusal?.message).toContain(param.split('[')[0]);
  });

  it('lets every field through at its no-op default', () => {
    const harmless = chat({
      frequency_penalty: 0,
      presence_penalty: 0,
      logit_bias: {},
      store: false,
      metadata: {},
      modalities: ['text'],
      verbosity: 'medium',
      seed: null,
      reasoning_effort: null,
      prompt_cache_key: 'k',
      n: 1,
      logprobs: false,
      top_logprobs: 0,
      temperature: 1,
    });
    expect(anthropicRefusal(harmless, 'chat')).toBeUndefined();
  });

  it('maps user, safety_identifier, stop, parallel_tool_calls, top_k, service_tier and a strict tool', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' }, strict: true } }];
    const request = chat({ user: 'u1', stop: 'END', parallel_tool_calls: false, tools, top_k: 5, service_tier: 'default', temperature: 0.3 });
    expect(anthropicRefusal(request, 'chat')).toBeUndefined();
    expect(chatRequestToAnthropic(request, 'claude', false)).toMatchObject({
      metadata: { user_id: 'u1' },
      stop_sequences: ['END'],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      tools: [{ name: 'f', input_schema: { type: 'object' }, strict: true }],
      top_k: 5,
      service_tier: 'standard_only',
      temperature: 0.3,
    });
    expect(chatRequestToAnthropic(chat({ safety_identifier: 's1' }), 'claude', false)).toMatchObject({ metadata: { user_id: 's1' } });
  });

  it('names a Responses client field as that client spelled it', () => {
    const pivot = responsesRequestToChat({ model: 'm', input: 'hi', reasoning: { effort: 'high' } }, []);
    expect(anthropicRefusal(pivot, 'responses')?.details).toMatchObject({ param: 'reasoning.effort' });
    const verbose = responsesRequestToChat({ model: 'm', input: 'hi', text: { verbosity: 'high' } }, []);
    expect(anthropicRefusal(verbose, 'responses')?.details).toMatchObject({ param: 'text.verbosity' });
  });
});

describe('Responses to Chat Completions: every field maps or is refused', () => {
  const responses = (extra: Json): Json => ({ model: 'm', input: 'hi', ...extra });
  it.each([
    ['max_tool_calls', { max_tool_calls: 3 }, 'max_tool_calls'],
    ['conversation', { conversation: 'conv_1' }, 'conversation'],
    ['prompt', { prompt: { id: 'pmpt_1' } }, 'prompt'],
    ['background', { background: true }, 'background'],
    ['truncation auto', { truncation: 'auto' }, 'truncation'],
    ['top_logprobs', { top_logprobs: 3 }, 'top_logprobs'],
    ['include of logprobs', { include: ['message.output_text.logprobs'] }, 'include'],
    ['reasoning.summary', { reasoning: { effort: 'low', summary: 'auto' } }, 'reasoning.summary'],
    ['an unknown text option', { text: { format: { type: 'text' }, shape: 'x' } }, 'text.shape'],
    ['an unknown field', { frequency_penalty: 1 }, 'frequency_penalty'],
  ])('refuses %s, naming it', (_name, extra, param) => {
    const error = thrown(() => responsesRequestToChat(responses(extra), []));
    expect(error.details).toMatchObject({ param, code: 'unsupported_parameter' });
    expect(error.message).toContain(param);
  });

  it('lets no-op values through and maps the rest', () => {
    const out = responsesRequestToChat(
      responses({
        truncation: 'disabled',
        background: false,
        top_logprobs: 0,
        include: ['reasoning.encrypted_content'],
        stream_options: { include_obfuscation: false },
        store: false,
        metadata: { a: 'b' },
        reasoning: { effort: 'low', summary: null },
        text: { format: { type: 'text' }, verbosity: 'low' },
        prompt_cache_key: 'k',
        safety_identifier: 's',
        service_tier: 'flex',
        max_output_tokens: 9,
      }),
      [],
    );
    expect(out).toMatchObject({
      reasoning_effort: 'low',
      verbosity: 'low',
      prompt_cache_key: 'k',
      safety_identifier: 's',
      service_tier: 'flex',
      max_tokens: 9,
    });
  });
});

describe('Messages to Chat Completions: every field maps or is refused', () => {
  const messages = (extra: Json): Json => ({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], ...extra });
  it.each([
    ['top_k', { top_k: 5 }, 'top_k'],
    ['container', { container: 'c1' }, 'container'],
    ['mcp_servers', { mcp_servers: [{ type: 'url', url: 'https://x', name: 'x' }] }, 'mcp_servers'],
    ['an unknown field', { frequency_penalty: 1 }, 'frequency_penalty'],
    ['a metadata key other than user_id', { metadata: { user_id: 'u', tenant: 't' } }, 'metadata.tenant'],
    ['a service tier Chat lacks', { service_tier: 'priority' }, 'service_tier'],
    ['an output_config other than format and effort', { output_config: { task_budget: 1000 } }, 'output_config.task_budget'],
    [
      'an image inside a tool result',
      {
        messages: [
          { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] }] },
        ],
      },
      'messages.1.content.0.content.0.type',
    ],
  ])('refuses %s, naming it', (_name, extra, param) => {
    expect(thrown(() => messagesRequestToChat(messages(extra))).details).toMatchObject({ param });
  });

  it('maps metadata.user_id, thinking, service_tier and a json_schema output format', () => {
    const schema = { type: 'object', properties: {} };
    expect(
      messagesRequestToChat(
        messages({
          metadata: { user_id: 'u' },
          thinking: { type: 'enabled', budget_tokens: 8000 },
          service_tier: 'standard_only',
          output_config: { format: { type: 'json_schema', schema } },
        }),
      ),
    ).toMatchObject({
      user: 'u',
      reasoning_effort: 'medium',
      service_tier: 'default',
      response_format: { type: 'json_schema', json_schema: { name: 'output', schema } },
    });
    expect(messagesRequestToChat(messages({ thinking: { type: 'disabled' } }))).not.toHaveProperty('reasoning_effort');
  });
});
