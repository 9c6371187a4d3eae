import { Metadata, credentials, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import OpenAI from 'openai';
import { LLM_SERVICE, loadService } from '@patchbay/proto';
import { api } from '@patchbay/testkit';
import { startFake, type FakeOpenAi } from '../support/fake-openai';
import { putConnector, startStack, type Stack } from '../support/stack';

// A token's `connectors` allow-list holds for every way a connector gets chosen:
// pins, bare names, failover, streaming, gRPC and the model and upstream lists.
const AGENT = 'agent-token-0123456789abcdef';
const ONLY_A = 'only-a-token-0123456789abcdef';
const TOKENS = JSON.stringify([
  { name: 'agent', token: AGENT, scopes: ['use'] },
  { name: 'only-a', token: ONLY_A, scopes: ['use', 'read'], connectors: ['LLMA'] },
]);
const hi = [{ role: 'user' as const, content: 'hi' }];

type Callback<T> = (error: ServiceError | null, value: T) => void;
interface LlmClient extends Client {
  CreateChatCompletion(request: unknown, metadata: Metadata, callback: Callback<{ bodyJson: string; connector: string }>): void;
  StreamChatCompletion(request: unknown, metadata: Metadata): ClientReadableStream<{ dataJson: string; connector: string }>;
  ListModels(request: unknown, metadata: Metadata, callback: Callback<{ models: { id: string; ownedBy: string }[] }>): void;
}

let stack: Stack;
let a: FakeOpenAi;
let b: FakeOpenAi;
let grpc: LlmClient;

function openai(token: string): OpenAI {
  return new OpenAI({ apiKey: token, baseURL: `${stack.proxy.url}/v1`, maxRetries: 0, timeout: 30_000 });
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

function metadata(token: string): Metadata {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
}

function grpcError(run: (cb: (error: ServiceError | null) => void) => void): Promise<ServiceError | null> {
  return new Promise((resolve) => run((error) => resolve(error)));
}

beforeAll(async () => {
  stack = await startStack({ PATCHBAY_TOKENS: TOKENS, LLM_PROXY_RETRY_BASE_MS: '10', LLM_PROXY_RETRY_MAX_MS: '50' });
  a = await startFake({ name: 'a', apiKey: 'sk-upstream-a-secret-1' });
  b = await startFake({ name: 'b', apiKey: 'sk-upstream-b-secret-2' });
  // LLMB is preferred for the shared model, so an unlimited token lands there first.
  await putConnector(stack, 'LLMA', a, { models: ['m-a', 'm-shared'], priority: 1, maxRetries: 0 });
  await putConnector(stack, 'LLMB', b, { models: ['m-b', 'm-shared'], priority: 0 });
  const { Client: LlmClientCtor } = loadService('llm', LLM_SERVICE);
  grpc = new LlmClientCtor(stack.proxy.grpcAddress, credentials.createInsecure()) as unknown as LlmClient;
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
  await Promise.all([a?.close(), b?.close()]);
});

describe('a token limited to connector LLMA', () => {
  it('routes a shared model to LLMA although LLMB is preferred', async () => {
    const { response: agent } = await openai(AGENT).chat.completions.create({ model: 'm-shared', messages: hi }).withResponse();
    expect(agent.headers.get('x-patchbay-connector')).toBe('LLMB');
    const { data, response } = await openai(ONLY_A).chat.completions.create({ model: 'm-shared', messages: hi }).withResponse();
    expect(response.headers.get('x-patchbay-connector')).toBe('LLMA');
    expect(data.choices[0]?.message.content).toBe('hello from a');
  });

  it('may not pin LLMB nor use a model only LLMB serves, streaming or not', async () => {
    const before = b.calls.length;
    const client = openai(ONLY_A);
    for (const model of ['LLMB/m-b', 'm-b', 'LLMB/m-shared']) {
      const plain = await apiError(client.chat.completions.create({ model, messages: hi }));
      expect(plain.status).toBe(403);
      expect(plain.type).toBe('permission_error');
      expect(plain.code).toBe('model_not_allowed');
      const streamed = await apiError(client.chat.completions.create({ model, messages: hi, stream: true }));
      expect(streamed.status).toBe(403);
    }
    // A model nobody serves is still a 404, and its list of alternatives names no LLMB model.
    const unknown = await apiError(client.chat.completions.create({ model: 'm-nowhere', messages: hi }));
    expect(unknown.status).toBe(404);
    expect(unknown.message).toContain('m-a');
    expect(unknown.message).not.toContain('m-b');
    expect(unknown.message).not.toContain('LLMB');
    expect(b.calls.length).toBe(before);
  });

  it('sees only LLMA’s models and upstream', async () => {
    const ids = [];
    for await (const model of openai(ONLY_A).models.list()) ids.push(model.id);
    expect(ids).toEqual(['m-a', 'm-shared', 'LLMA/m-a', 'LLMA/m-shared']);
    expect((await openai(ONLY_A).models.retrieve('m-shared')).owned_by).toBe('LLMA');
    expect((await apiError(openai(ONLY_A).models.retrieve('m-b'))).status).toBe(404);
    const upstreams = await api(stack.proxy.url, 'GET', '/v1/upstreams', { token: ONLY_A });
    expect(upstreams.body.items.map((u: { configId: string }) => u.configId)).toEqual(['LLMA']);
  });

  it('obeys the allow-list over gRPC', async () => {
    const denied = await grpcError((cb) => grpc.CreateChatCompletion({ bodyJson: JSON.stringify({ model: 'm-b', messages: hi }) }, metadata(ONLY_A), cb));
    expect(denied?.code).toBe(7); // PERMISSION_DENIED
    const stream = grpc.StreamChatCompletion({ bodyJson: JSON.stringify({ model: 'LLMB/m-b', messages: hi }) }, metadata(ONLY_A));
    const streamDenied = await new Promise<ServiceError>((resolve) => {
      stream.on('data', () => undefined);
      stream.on('error', resolve);
    });
    expect(streamDenied.code).toBe(7);
    const shared = await new Promise<{ connector: string }>((resolve, reject) =>
      grpc.CreateChatCompletion({ bodyJson: JSON.stringify({ model: 'm-shared', messages: hi }) }, metadata(ONLY_A), (e, v) => (e ? reject(e) : resolve(v))),
    );
    expect(shared.connector).toBe('LLMA');
    const list = await new Promise<{ models: { id: string }[] }>((resolve, reject) =>
      grpc.ListModels({}, metadata(ONLY_A), (e, v) => (e ? reject(e) : resolve(v))),
    );
    expect(list.models.map((m) => m.id)).toEqual(['m-a', 'm-shared', 'LLMA/m-a', 'LLMA/m-shared']);
  });

  it('does not fail over to LLMB when LLMA is down', async () => {
    a.fallback = { kind: 'status', status: 500 };
    const before = b.calls.length;
    const error = await apiError(openai(ONLY_A).chat.completions.create({ model: 'm-shared', messages: hi }));
    expect(error.status).toBe(502);
    expect(error.headers?.get('x-patchbay-connector')).toBe('LLMA');
    const streamed = await apiError(openai(ONLY_A).chat.completions.create({ model: 'm-shared', messages: hi, stream: true }));
    expect(streamed.status).toBe(502);
    expect(b.calls.length).toBe(before);
    a.fallback = { kind: 'ok' };
  });
});
