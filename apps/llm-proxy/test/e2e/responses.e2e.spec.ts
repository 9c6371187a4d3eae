import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { api, eventually, TEST_ADMIN_TOKEN } from '@patchbay/testkit';
import { startFake, type FakeOpenAi } from '../support/fake-openai';
import { FAKE_TOOL_ARGUMENTS } from '../support/scripted-turn';
import { putConnector, startStack, type Stack } from '../support/stack';

const AGENT = 'agent-token-0123456789abcdef';
const OTHER = 'other-token-0123456789abcdef';
const TOKENS = JSON.stringify([
  { name: 'agent', token: AGENT, scopes: ['use'] },
  { name: 'other', token: OTHER, scopes: ['use'] },
]);

let stack: Stack;
let chatOnly: FakeOpenAi;
let native: FakeOpenAi;
let client: OpenAI;

const weather = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

beforeAll(async () => {
  stack = await startStack({ PATCHBAY_TOKENS: TOKENS, LLM_PROXY_RETRY_BASE_MS: '10', LLM_PROXY_RETRY_MAX_MS: '50' });
  chatOnly = await startFake({ name: 'chatonly', apiKey: 'sk-upstream-chatonly-secret' });
  native = await startFake({ name: 'native', apiKey: 'sk-upstream-native-secret' });
  await putConnector(stack, 'ChatOnly', chatOnly, { models: ['r-chat'] });
  await putConnector(stack, 'Native', native, { models: ['r-native'], apis: ['chat', 'responses'] });
  client = new OpenAI({ apiKey: AGENT, baseURL: `${stack.proxy.url}/v1`, maxRetries: 0, timeout: 30_000 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await chatOnly?.close();
  await native?.close();
});

describe('POST /v1/responses translated to Chat Completions', () => {
  it('answers a plain request with output_text and usage, sending instructions as a system message', async () => {
    const response = await client.responses.create({ model: 'r-chat', instructions: 'Be brief.', input: 'hi' });
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.id).toMatch(/^resp_/);
    expect(response.output_text).toBe('hello from chatonly');
    expect(response.usage).toMatchObject({ input_tokens: 5, output_tokens: 3, total_tokens: 8 });
    const sent = chatOnly.calls.at(-1);
    expect(sent?.path).toBe('/v1/chat/completions');
    expect(sent?.headers.authorization).toBe('Bearer sk-upstream-chatonly-secret');
    expect(sent?.body?.['messages']).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ]);
  });

  it('streams the real Responses event sequence', async () => {
    const stream = await client.responses.create({ model: 'r-chat', input: 'hi', stream: true });
    const types: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(text).toBe('hello from chatonly');
    expect(completed?.usage?.total_tokens).toBe(8);
    expect(completed?.output[0]).toMatchObject({ type: 'message', content: [{ type: 'output_text', text: 'hello from chatonly' }] });
  });

  it('round-trips a function tool, streaming its arguments, and continues with previous_response_id', async () => {
    const stream = client.responses.stream({ model: 'r-chat', input: 'weather in Paris?', tools: [weather] });
    const argumentDeltas: string[] = [];
    stream.on('response.function_call_arguments.delta', (event) => argumentDeltas.push(event.delta));
    const first = await stream.finalResponse();
    expect(argumentDeltas.join('')).toBe(FAKE_TOOL_ARGUMENTS);
    const call = first.output.find((item) => item.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: FAKE_TOOL_ARGUMENTS, call_id: 'call_fake_1' });
    expect(chatOnly.calls.at(-1)?.body?.['tools']).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: weather.parameters, strict: true } },
    ]);

    const second = await client.responses.create({
      model: 'r-chat',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: 'call_fake_1', output: 'sunny, 21°C' }],
      tools: [weather],
    });
    expect(second.output_text).toBe('tool said: sunny, 21°C');
    expect(second.previous_response_id).toBe(first.id);
    // The whole conversation went upstream: the user turn, the assistant's tool call, the tool's answer.
    expect(chatOnly.calls.at(-1)?.body?.['messages']).toEqual([
      { role: 'user', content: 'weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_fake_1', type: 'function', function: { name: 'get_weather', arguments: FAKE_TOOL_ARGUMENTS } }],
      },
      { role: 'tool', tool_call_id: 'call_fake_1', content: 'sunny, 21°C' },
    ]);
  });

  it('keeps responses for GET and DELETE, for their owner only, and honours store: false', async () => {
    const kept = await client.responses.create({ model: 'r-chat', input: 'hi' });
    expect((await client.responses.retrieve(kept.id)).output_text).toBe('hello from chatonly');
    const other = new OpenAI({ apiKey: OTHER, baseURL: `${stack.proxy.url}/v1`, maxRetries: 0 });
    await expect(other.responses.retrieve(kept.id)).rejects.toMatchObject({ status: 404 });
    await expect(other.responses.create({ model: 'r-chat', input: 'x', previous_response_id: kept.id })).rejects.toMatchObject({
      status: 404,
      error: { param: 'previous_response_id' },
    });
    await client.responses.delete(kept.id);
    await expect(client.responses.retrieve(kept.id)).rejects.toMatchObject({ status: 404 });

    const unstored = await client.responses.create({ model: 'r-chat', input: 'hi', store: false });
    await expect(client.responses.retrieve(unstored.id)).rejects.toMatchObject({ status: 404 });
  });

  it('lists the input items of a stored response in pages, for its owner only', async () => {
    const first = await client.responses.create({ model: 'r-chat', instructions: 'Be brief.', input: 'hi' });
    const second = await client.responses.create({
      model: 'r-chat',
      previous_response_id: first.id,
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'and again' }] }],
    });

    // Newest first by default: the conversation the second response answered, its predecessor's turns included.
    const page = await client.responses.inputItems.list(second.id);
    expect(page.data).toMatchObject([
      { type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'and again' }] },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'hello from chatonly' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] },
    ]);
    expect(page.data.every((item) => typeof item.id === 'string' && item.id.startsWith('msg_'))).toBe(true);
    const raw = await api(stack.proxy.url, 'GET', `/v1/responses/${second.id}/input_items?order=asc&limit=2`, { token: AGENT });
    expect(raw.status).toBe(200);
    expect(raw.body).toMatchObject({ object: 'list', has_more: true, first_id: page.data[2]?.id, last_id: page.data[1]?.id });
    expect(raw.body.data.map((item: { id: string }) => item.id)).toEqual([page.data[2]?.id, page.data[1]?.id]);
    const rest = await api(stack.proxy.url, 'GET', `/v1/responses/${second.id}/input_items?order=asc&limit=2&after=${raw.body.last_id}`, { token: AGENT });
    expect(rest.body).toMatchObject({ object: 'list', has_more: false, first_id: page.data[0]?.id, last_id: page.data[0]?.id });

    // The SDK's auto-pagination walks the same cursors.
    const all: string[] = [];
    for await (const item of client.responses.inputItems.list(second.id, { order: 'asc', limit: 1 })) all.push(item.id ?? '');
    expect(all).toEqual([...page.data].reverse().map((item) => item.id));

    const other = new OpenAI({ apiKey: OTHER, baseURL: `${stack.proxy.url}/v1`, maxRetries: 0 });
    await expect(other.responses.inputItems.list(second.id)).rejects.toMatchObject({ status: 404 });
    const badLimit = await api(stack.proxy.url, 'GET', `/v1/responses/${second.id}/input_items?limit=101`, { token: AGENT });
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error).toMatchObject({ type: 'invalid_request_error', param: 'limit' });
    const badCursor = await api(stack.proxy.url, 'GET', `/v1/responses/${second.id}/input_items?after=msg_nope`, { token: AGENT });
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error).toMatchObject({ param: 'after' });
  });

  it('names the field it cannot translate, in OpenAI shape', async () => {
    const error = await client.responses.create({ model: 'r-chat', input: 'hi', tools: [{ type: 'web_search' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ param: 'tools[0].type', type: 'invalid_request_error' });
    const noModel = await api(stack.proxy.url, 'POST', '/v1/responses', { token: AGENT, body: { input: 'hi' } });
    expect(noModel.status).toBe(400);
    expect(noModel.body.error).toMatchObject({ param: 'model' });
    // A field Chat Completions cannot carry is refused by name, never dropped.
    const withMaxToolCalls: OpenAI.Responses.ResponseCreateParamsNonStreaming & { max_tool_calls: number } = {
      model: 'r-chat',
      input: 'hi',
      max_tool_calls: 2,
    };
    const toolCalls = await client.responses.create(withMaxToolCalls).catch((e: unknown) => e);
    expect((toolCalls as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ param: 'max_tool_calls', code: 'unsupported_parameter' });
    const summary = await client.responses.create({ model: 'r-chat', input: 'hi', reasoning: { effort: 'low', summary: 'auto' } }).catch((e: unknown) => e);
    expect((summary as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ param: 'reasoning.summary' });
  });

  it('turns a cut upstream stream into an error event, never a clean end', async () => {
    chatOnly.next({ kind: 'cut', afterChunks: 1 });
    const stream = await client.responses.create({ model: 'r-chat', input: 'hi', stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => e.type)).not.toContain('response.completed');
    const last = events.at(-1);
    expect(last?.type).toBe('error');
    expect(last).toMatchObject({ code: 'upstream_stream_interrupted', message: expect.stringContaining("connector 'ChatOnly'") });
  });
});

describe('the responses proxy around the engine', () => {
  it('lets every replica continue a response another one created (Redis store)', async () => {
    const first = await client.responses.create({ model: 'r-chat', input: 'hi' });
    const replica = await stack.replica({ PATCHBAY_TOKENS: TOKENS });
    const other = new OpenAI({ apiKey: AGENT, baseURL: `${replica.url}/v1`, maxRetries: 0 });
    await eventually(
      async () => (await api(replica.url, 'GET', '/v1/upstreams', { token: TEST_ADMIN_TOKEN })).body.items.length >= 2,
      15_000,
      'replica to load connectors',
    );
    expect((await other.responses.retrieve(first.id)).output_text).toBe('hello from chatonly');
    const next = await other.responses.create({ model: 'r-chat', input: 'more', previous_response_id: first.id });
    expect(next.previous_response_id).toBe(first.id);
    expect(chatOnly.calls.at(-1)?.body?.['messages']).toHaveLength(3);
  });

  it('cancels the upstream when a streaming client goes away', async () => {
    chatOnly.next({ kind: 'endless', everyMs: 20 });
    const disconnected = new Promise<void>((resolve) => chatOnly.once('disconnect', () => resolve()));
    const controller = new AbortController();
    const stream = await client.responses.create({ model: 'r-chat', input: 'hi', stream: true }, { signal: controller.signal });
    let deltas = 0;
    await (async () => {
      for await (const event of stream) if (event.type === 'response.output_text.delta' && ++deltas === 3) controller.abort();
    })().catch(() => undefined);
    await disconnected;
    expect(deltas).toBe(3);
  });

  it('labels token usage with the API in /metrics', async () => {
    await client.responses.create({ model: 'r-chat', input: 'hi' });
    const metrics = await api(stack.proxy.url, 'GET', '/metrics', { token: null });
    expect(metrics.text).toMatch(/llm_proxy_tokens_total\{[^}]*model="r-chat"[^}]*connector="ChatOnly"[^}]*kind="prompt"[^}]*api="responses"[^}]*\} \d+/);
    expect(metrics.text).toMatch(/llm_proxy_requests_total\{route="\/v1\/responses"/);
  });
});

describe('POST /v1/responses to a connector that serves it natively', () => {
  it('passes the request through and keeps the response for previous_response_id', async () => {
    const first = await client.responses.create({ model: 'r-native', input: 'hi' });
    expect(first.output_text).toBe('hello from native (native responses)');
    expect(native.calls.at(-1)?.path).toBe('/v1/responses');
    const second = await client.responses.create({ model: 'r-native', input: 'again', previous_response_id: first.id });
    expect(second.id).not.toBe(first.id);
    // The proxy spelled the conversation out: the upstream never saw an id it did not issue.
    const sent = native.calls.at(-1)?.body;
    expect(sent?.['previous_response_id']).toBeUndefined();
    expect(sent?.['input']).toEqual([
      { type: 'message', role: 'user', content: 'hi' },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'hello from native (native responses)', annotations: [] }] },
      { type: 'message', role: 'user', content: 'again' },
    ]);
  });

  it('relays a native stream as it came and stores its completed response', async () => {
    const stream = await client.responses.create({ model: 'r-native', input: 'hi', stream: true });
    let id: string | undefined;
    for await (const event of stream) if (event.type === 'response.completed') id = event.response.id;
    expect(id).toMatch(/^resp_native_/);
    expect((await client.responses.retrieve(id as string)).output_text).toBe('hello from native (native responses)');
  });
});

describe('the AI SDK default provider (openai(model) calls /v1/responses)', () => {
  const provider = (): ReturnType<typeof createOpenAI> => createOpenAI({ apiKey: AGENT, baseURL: `${stack.proxy.url}/v1` });

  /** How many requests the proxy has served on /v1/responses, from /metrics: the proof the SDK did not fall back to chat. */
  async function responsesServed(): Promise<number> {
    const metrics = await api(stack.proxy.url, 'GET', '/metrics', { token: null });
    let total = 0;
    for (const m of metrics.text.matchAll(/^llm_proxy_requests_total\{route="\/v1\/responses"[^}]*\} (\d+)$/gm)) total += Number(m[1]);
    return total;
  }

  let servedBefore = 0;
  beforeEach(async () => {
    servedBefore = await responsesServed();
  });

  it('generateText gets the text and usage', async () => {
    const result = await generateText({ model: provider()('r-chat'), prompt: 'hi', maxRetries: 0 });
    expect(result.text).toBe('hello from chatonly');
    expect(result.usage).toMatchObject({ inputTokens: 5, outputTokens: 3 });
    expect((await responsesServed()) - servedBefore).toBe(1);
    expect(chatOnly.calls.at(-1)?.path).toBe('/v1/chat/completions');
  });

  it('streamText streams the text (not an empty string) and finishes', async () => {
    const result = streamText({ model: provider()('r-chat'), prompt: 'hi', maxRetries: 0 });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    expect(text).toBe('hello from chatonly');
    expect(await result.finishReason).toBe('stop');
    expect((await responsesServed()) - servedBefore).toBe(1);
  });

  it('runs a tool loop: the model calls the tool, the SDK runs it, the model answers', async () => {
    const executed: unknown[] = [];
    const result = await generateText({
      model: provider()('r-chat'),
      prompt: 'weather in Paris?',
      maxRetries: 0,
      stopWhen: stepCountIs(3),
      tools: {
        get_weather: tool({
          description: 'Weather in a city',
          inputSchema: jsonSchema<{ city: string }>({
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
            additionalProperties: false,
          }),
          execute: async (input) => {
            executed.push(input);
            return 'cloudy';
          },
        }),
      },
    });
    expect(executed).toEqual([{ city: 'Paris' }]);
    expect(result.text).toBe('tool said: cloudy');
    expect(result.steps).toHaveLength(2);
    expect((await responsesServed()) - servedBefore).toBe(2);
  });

  it('streamText surfaces a cut stream as an error instead of an empty success', async () => {
    chatOnly.next({ kind: 'cut', afterChunks: 1 });
    const errors: unknown[] = [];
    const result = streamText({ model: provider()('r-chat'), prompt: 'hi', maxRetries: 0, onError: ({ error }) => void errors.push(error) });
    for await (const _ of result.textStream) void _;
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as { message?: string }).message ?? errors[0])).toMatch(/cut|ended/);
    expect((await responsesServed()) - servedBefore).toBe(1);
  });
});
