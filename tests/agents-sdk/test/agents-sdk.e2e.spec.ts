import { Agent, OpenAIResponsesModel, getDefaultModel, run, setDefaultOpenAIClient, setTracingDisabled, tool } from '@openai/agents';
import OpenAI from 'openai';
import { api } from '@patchbay/testkit';
import { z } from 'zod';
import { startFake, type FakeOpenAi } from '../../../apps/llm-proxy/test/support/fake-openai';
import { FAKE_TOOL_ARGUMENTS } from '../../../apps/llm-proxy/test/support/scripted-turn';
import { putConnector, startStack, type Stack } from '../../../apps/llm-proxy/test/support/stack';

const AGENT_TOKEN = 'agents-sdk-token-0123456789abcdef';
const TOKENS = JSON.stringify([{ name: 'agents-sdk', token: AGENT_TOKEN, scopes: ['use'] }]);

let stack: Stack;
let chatOnly: FakeOpenAi;
let native: FakeOpenAi;

beforeAll(async () => {
  // Traces would go to api.openai.com, which this proxy's users may not reach either.
  setTracingDisabled(true);
  stack = await startStack({ PATCHBAY_TOKENS: TOKENS });
  chatOnly = await startFake({ name: 'chatonly', apiKey: 'sk-upstream-agents-chat-secret' });
  native = await startFake({ name: 'native', apiKey: 'sk-upstream-agents-native-secret' });
  // The SDK's own default model name, served translated by one connector and natively (Responses) by another.
  await putConnector(stack, 'AgentsChat', chatOnly, { models: [getDefaultModel()] });
  await putConnector(stack, 'AgentsNative', native, { models: ['agents-native'], apis: ['chat', 'responses'] });
  setDefaultOpenAIClient(new OpenAI({ apiKey: AGENT_TOKEN, baseURL: `${stack.proxy.url}/v1`, maxRetries: 0, timeout: 30_000 }));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await chatOnly?.close();
  await native?.close();
});

/** One function tool whose calls the test can see. */
function weatherTool(calls: { city: string }[]) {
  return tool({
    name: 'get_weather',
    description: 'Weather in a city',
    parameters: z.object({ city: z.string() }),
    execute: ({ city }) => {
      calls.push({ city });
      return `sunny in ${city}`;
    },
  });
}

describe('OpenAI Agents SDK through the llm-proxy', () => {
  it('runs an agent with its default Responses model and one tool, translated to Chat Completions', async () => {
    const calls: { city: string }[] = [];
    const agent = new Agent({ name: 'Weather', instructions: 'Answer with the weather.', tools: [weatherTool(calls)] });
    expect(agent.model).toBe('');

    const result = await run(agent, 'What is the weather in Paris?');

    expect(calls).toEqual([JSON.parse(FAKE_TOOL_ARGUMENTS)]);
    expect(result.finalOutput).toBe('tool said: sunny in Paris');
    // Both model turns went through /v1/responses, translated: the tool's answer reached the upstream as a tool message.
    const sent = chatOnly.calls.slice(-2);
    expect(sent.map((c) => c.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
    expect(sent[0]?.body?.['model']).toBe(getDefaultModel());
    expect(sent[0]?.body?.['messages']).toEqual([
      { role: 'system', content: 'Answer with the weather.' },
      { role: 'user', content: 'What is the weather in Paris?' },
    ]);
    expect(sent[1]?.body?.['messages']).toContainEqual({ role: 'tool', tool_call_id: 'call_fake_1', content: 'sunny in Paris' });
    expect(chatOnly.calls.every((c) => c.headers.authorization === 'Bearer sk-upstream-agents-chat-secret')).toBe(true);
    // The SDK called the Responses API (its default), not Chat Completions.
    const metrics = await api(stack.proxy.url, 'GET', '/metrics', { token: null });
    expect(metrics.text).toMatch(/llm_proxy_requests_total\{route="\/v1\/responses"[^}]*\} 2\b/);
    expect(metrics.text).not.toMatch(/llm_proxy_requests_total\{route="\/v1\/chat\/completions"/);
  });

  it('streams a run with the tool to a connector serving the Responses API natively', async () => {
    const calls: { city: string }[] = [];
    const client = new OpenAI({ apiKey: AGENT_TOKEN, baseURL: `${stack.proxy.url}/v1`, maxRetries: 0, timeout: 30_000 });
    const agent = new Agent({ name: 'Weather', model: new OpenAIResponsesModel(client, 'agents-native'), tools: [weatherTool(calls)] });

    const result = await run(agent, 'Weather in Paris?', { stream: true });
    let text = '';
    for await (const event of result.toTextStream()) text += event;
    await result.completed;

    expect(calls).toEqual([JSON.parse(FAKE_TOOL_ARGUMENTS)]);
    expect(result.finalOutput).toBe('tool said: sunny in Paris (native responses)');
    expect(text).toBe('tool said: sunny in Paris (native responses)');
    const sent = native.calls.slice(-2);
    expect(sent.map((c) => c.path)).toEqual(['/v1/responses', '/v1/responses']);
    expect(sent[1]?.body?.['input']).toContainEqual(expect.objectContaining({ type: 'function_call_output', call_id: 'call_fake_1' }));
  });
});
