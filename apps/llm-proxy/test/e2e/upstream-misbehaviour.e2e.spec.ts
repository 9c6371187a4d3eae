import OpenAI from 'openai';
import { eventually, freePort } from '@patchbay/testkit';
import { startFake, type FakeOpenAi } from '../support/fake-openai';
import { putConnector, startStack, type Stack } from '../support/stack';

// Upstreams that answer the wrong way or not at all: every request still ends, within
// the proxy's default timeouts (shortened here through the same env variables), with an
// OpenAI-shaped answer.
const AGENT = 'agent-token-0123456789abcdef';
const hi = [{ role: 'user' as const, content: 'hi' }];

let stack: Stack;
let client: OpenAI;
const fakes: FakeOpenAi[] = [];

async function fake(name: string, models: string[]): Promise<FakeOpenAi> {
  const started = await startFake({ name, models, apiKey: `sk-upstream-${name}-secret` });
  fakes.push(started);
  return started;
}

async function apiError(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

async function streamedText(model: string): Promise<string> {
  const stream = await client.chat.completions.create({ model, messages: hi, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  return text;
}

beforeAll(async () => {
  stack = await startStack({
    PATCHBAY_TOKENS: JSON.stringify([{ name: 'agent', token: AGENT, scopes: ['use'] }]),
    LLM_PROXY_TIMEOUT_MS: '1000',
    LLM_PROXY_FIRST_TOKEN_TIMEOUT_MS: '1000',
    LLM_PROXY_RETRY_BASE_MS: '10',
    LLM_PROXY_RETRY_MAX_MS: '50',
  });
  client = new OpenAI({ apiKey: AGENT, baseURL: `${stack.proxy.url}/v1`, maxRetries: 0, timeout: 20_000 });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all(fakes.map((f) => f.close()));
});

describe('an upstream answering plain JSON to a streaming request', () => {
  it('streams the completion it answered to the client', async () => {
    const json = await fake('json', ['m-json']);
    json.fallback = { kind: 'json' };
    await putConnector(stack, 'Json', json, { models: ['m-json'] });
    expect(await streamedText('m-json')).toBe('hello from json');
    expect(json.calls.at(-1)?.body?.['stream']).toBe(true);
  });

  it('turns a JSON error body into an OpenAI error for the client', async () => {
    const failing = await fake('json-error', ['m-json-error']);
    failing.fallback = { kind: 'status', status: 200, body: { error: { message: 'the model is overloaded', type: 'server_error', param: null, code: null } } };
    await putConnector(stack, 'JsonError', failing, { models: ['m-json-error'], maxRetries: 0 });
    const error = await apiError(streamedText('m-json-error'));
    expect(error.status).toBe(502);
    expect(error.message).toContain('the model is overloaded');
    expect(error.headers?.get('x-patchbay-connector')).toBe('JsonError');
  });
});

describe('an upstream that accepts the connection and never answers', () => {
  let silent: FakeOpenAi;

  beforeAll(async () => {
    silent = await fake('silent', ['m-silent']);
    silent.fallback = { kind: 'silent' };
    await putConnector(stack, 'Silent', silent, { models: ['m-silent'] });
  });

  it('answers 504 in OpenAI shape at the default timeout and logs it', async () => {
    const error = await apiError(client.chat.completions.create({ model: 'm-silent', messages: hi }));
    expect(error.status).toBe(504);
    expect(error.code).toBe('timeout');
    const errorId = error.headers?.get('x-patchbay-error-id');
    expect(errorId).toBeTruthy();
    await eventually(() => stack.proxy.logs().includes(`"errorId":"${errorId}"`), 5000, 'the 504 to be logged');
    await eventually(() => silent.calls.every((c) => c.disconnected), 5000, 'the upstream request to be abandoned');
  });

  it('answers 504 to a streaming request at the default first-token timeout', async () => {
    const error = await apiError(streamedText('m-silent'));
    expect(error.status).toBe(504);
    expect(error.message).toContain('first byte');
  });
});

describe('503 answers', () => {
  it('carry Retry-After when no upstream is reachable', async () => {
    const nowhere = await fake('nowhere', ['m-nowhere']);
    await putConnector(stack, 'Nowhere', nowhere, { models: ['m-nowhere'], maxRetries: 0 }, `http://127.0.0.1:${await freePort()}/v1`);
    const error = await apiError(client.chat.completions.create({ model: 'm-nowhere', messages: hi }));
    expect(error.status).toBe(503);
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
