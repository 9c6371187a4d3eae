import { Metadata, credentials, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import OpenAI from 'openai';
import { LLM_SERVICE, loadService } from '@patchbay/proto';
import { api, freePort, startService, type ServiceHandle } from '@patchbay/testkit';
import { startFake, type FakeOpenAi } from '../support/fake-openai';

const AGENT = 'agent-token-0123456789abcdef';

type Callback<T> = (error: ServiceError | null, value: T) => void;
interface LlmClient extends Client {
  CreateChatCompletion(request: unknown, metadata: Metadata, callback: Callback<{ bodyJson: string; connector: string; attempts: number }>): void;
  StreamChatCompletion(request: unknown, metadata: Metadata): ClientReadableStream<{ dataJson: string; connector: string }>;
  ListModels(request: unknown, metadata: Metadata, callback: Callback<{ models: { id: string; ownedBy: string }[] }>): void;
}

let upstream: FakeOpenAi;
let proxy: ServiceHandle;
let grpc: LlmClient;
const metadata = (token = AGENT): Metadata => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
};

beforeAll(async () => {
  upstream = await startFake({ name: 'local', models: ['local-model'], apiKey: 'sk-local-provider-key-42' });
  // No registry at all: the seed's local-dev mode serves LLM_URL / LLM_APIKEY as connector `LLM`.
  proxy = await startService('llm-proxy', {
    env: {
      LLM_URL: upstream.url,
      LLM_APIKEY: 'sk-local-provider-key-42',
      LLM_MODELS: 'local-model, other-model',
      PATCHBAY_REGISTRY_URL: `http://127.0.0.1:${await freePort()}`,
      PATCHBAY_TOKENS: JSON.stringify([{ name: 'agent', token: AGENT, scopes: ['use'] }]),
    },
  });
  const { Client: LlmClientCtor } = loadService('llm', LLM_SERVICE);
  grpc = new LlmClientCtor(proxy.grpcAddress, credentials.createInsecure()) as unknown as LlmClient;
}, 60_000);

afterAll(async () => {
  grpc?.close();
  await proxy?.stop();
  await upstream?.close();
});

describe('local mode (LLM_URL / LLM_APIKEY)', () => {
  it('proxies the environment’s upstream as connector LLM without any registry', async () => {
    const client = new OpenAI({ apiKey: AGENT, baseURL: `${proxy.url}/v1`, maxRetries: 0 });
    const { data, response } = await client.chat.completions.create({ model: 'local-model', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(data.choices[0]?.message.content).toBe('hello from local');
    expect(response.headers.get('x-patchbay-connector')).toBe('LLM');
    expect(upstream.calls.at(-1)?.headers.authorization).toBe('Bearer sk-local-provider-key-42');
    const models = await api(proxy.url, 'GET', '/v1/models', { token: AGENT });
    expect(models.body.data.map((m: { id: string }) => m.id)).toEqual(['local-model', 'other-model', 'LLM/local-model', 'LLM/other-model']);
    const ready = await api(proxy.url, 'GET', '/health/ready', { token: null });
    expect(ready.status).toBe(200);
  });
});

describe('gRPC mirror', () => {
  const request = { bodyJson: JSON.stringify({ model: 'local-model', messages: [{ role: 'user', content: 'hi' }] }) };

  it('answers a unary chat completion with the upstream body', async () => {
    const answer = await new Promise<{ bodyJson: string; connector: string; attempts: number }>((resolve, reject) =>
      grpc.CreateChatCompletion(request, metadata(), (error, value) => (error ? reject(error) : resolve(value))),
    );
    expect(JSON.parse(answer.bodyJson).choices[0].message.content).toBe('hello from local');
    expect(answer).toMatchObject({ connector: 'LLM', attempts: 1 });
  });

  it('streams chunks, one message per upstream event', async () => {
    const call = grpc.StreamChatCompletion(request, metadata());
    const chunks: { dataJson: string; connector: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on('data', (chunk: { dataJson: string; connector: string }) => chunks.push(chunk));
      call.on('end', resolve);
      call.on('error', reject);
    });
    expect(chunks[0]?.connector).toBe('LLM');
    const text = chunks.map((c) => JSON.parse(c.dataJson).choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe('hello from local');
  });

  it('lists models and refuses calls without a token', async () => {
    const list = await new Promise<{ models: { id: string }[] }>((resolve, reject) =>
      grpc.ListModels({}, metadata(), (error, value) => (error ? reject(error) : resolve(value))),
    );
    expect(list.models.map((m) => m.id)).toContain('local-model');
    const denied = await new Promise<ServiceError | null>((resolve) => grpc.ListModels({}, new Metadata(), (error) => resolve(error)));
    expect(denied?.code).toBe(16);
  });

  it('maps an unknown model to NOT_FOUND', async () => {
    const error = await new Promise<ServiceError | null>((resolve) =>
      grpc.CreateChatCompletion({ bodyJson: JSON.stringify({ model: 'nope', messages: [] }) }, metadata(), (e) => resolve(e)),
    );
    expect(error?.code).toBe(5);
    expect(error?.details).toContain('local-model');
  });
});
