import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeAnthropicApi } from './fake-anthropic';
import { FakeResponsesApi } from './fake-responses';
import { scriptedTurn, type ToolTurn } from './scripted-turn';

/** What the fake does with one request. */
export type Behaviour =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: unknown }
  /** Waits before sending anything (headers included). */
  | { kind: 'slow-first-byte'; delayMs: number }
  /** Streams `afterChunks` chunks, then goes silent with the connection open. */
  | { kind: 'stall'; afterChunks: number }
  /** Streams `afterChunks` chunks, then drops the connection. */
  | { kind: 'cut'; afterChunks: number }
  /**
   * Streams `afterChunks` events, then reports an error in-band on the 200 stream and ends it,
   * as Anthropic does when it is overloaded mid-answer (Messages and Responses streams only).
   */
  | { kind: 'stream-error'; afterChunks: number; type: string; message: string }
  /** Streams a chunk every `everyMs` until the client goes away. */
  | { kind: 'endless'; everyMs: number }
  /** Answers bytes that are not HTTP. */
  | { kind: 'garbage' }
  /** Streams every event in one write, so the whole stream can arrive as one chunk. */
  | { kind: 'one-write' }
  /** Ignores `stream: true`: answers the whole completion as plain JSON. */
  | { kind: 'json' }
  /** Reads the request and never answers (no headers), keeping the connection open. */
  | { kind: 'silent' };

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown> | undefined;
  at: number;
  /** Set when the client went away before the response ended. */
  disconnected: boolean;
}

export interface FakeOptions {
  /** The name put into answers, to tell fakes apart. */
  name: string;
  /** Expected bearer key; requests without it get a 401 that echoes what they sent (like OpenAI does). */
  apiKey?: string;
  models?: string[];
  /** Delay between streamed chunks (a paced upstream). */
  chunkDelayMs?: number;
  /** Log nothing and record no requests (benchmarks). */
  quiet?: boolean;
  /**
   * `anthropic`: speaks Anthropic's Messages API (`/v1/messages`, `/v1/messages/count_tokens`,
   * key as `x-api-key`, Anthropic's error shape). Default: OpenAI (Chat Completions, and the
   * Responses API at `/v1/responses`).
   */
  provider?: 'openai' | 'anthropic';
}

/** Sleeps, but wakes as soon as the client goes away (so no timer outlives a test). */
export function pause(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    }
    res.once('close', done);
  });
}

/**
 * A small OpenAI-compatible upstream on a real socket with real SSE, with scripted
 * failure modes. `next()` queues behaviours for the coming requests; after the queue
 * the `fallback` behaviour applies.
 */
export class FakeOpenAi extends EventEmitter {
  readonly requests: SeenRequest[] = [];
  private readonly responses: FakeResponsesApi;
  private readonly anthropic: FakeAnthropicApi;
  fallback: Behaviour = { kind: 'ok' };
  private readonly queue: Behaviour[] = [];
  private readonly server: Server;
  private port = 0;

  constructor(readonly options: FakeOptions) {
    super();
    this.responses = new FakeResponsesApi(options.name);
    this.anthropic = new FakeAnthropicApi(options);
    this.server = createServer({ keepAlive: true }, (req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
  }

  /** Base URL ending in /v1, as a connector `url`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Queues `behaviour` for the next `times` requests. */
  next(behaviour: Behaviour, times = 1): this {
    for (let i = 0; i < times; i++) this.queue.push(behaviour);
    return this;
  }

  /** Requests to the completion endpoints (not /models probes). */
  get calls(): SeenRequest[] {
    return this.requests.filter((r) => r.method === 'POST');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: Record<string, unknown> | undefined;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      body = undefined;
    }
    const seen: SeenRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, at: Date.now(), disconnected: false };
    if (!this.options.quiet) this.requests.push(seen);
    res.on('close', () => {
      if (!res.writableFinished) {
        seen.disconnected = true;
        this.emit('disconnect', seen);
      }
    });
    this.emit('request', seen);

    if (this.options.provider === 'anthropic')
      return this.anthropic.handle(req, res, seen, req.method === 'POST' ? (this.queue.shift() ?? this.fallback) : { kind: 'ok' });
    if (this.options.apiKey && req.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      return this.json(res, 401, {
        error: {
          message: `Incorrect API key provided: ${req.headers.authorization ?? '(none)'}`,
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      });
    }
    const path = (req.url ?? '').replace(/\?.*$/, '');
    if (req.method === 'GET' && path === '/v1/models') {
      return this.json(res, 200, {
        object: 'list',
        data: (this.options.models ?? []).map((id) => ({ id, object: 'model', created: 0, owned_by: this.options.name })),
      });
    }
    const behaviour = req.method === 'POST' ? (this.queue.shift() ?? this.fallback) : { kind: 'ok' as const };
    switch (behaviour.kind) {
      case 'status':
        return this.json(
          res,
          behaviour.status,
          behaviour.body ?? { error: { message: `fake ${behaviour.status}`, type: 'server_error', param: null, code: null } },
          behaviour.headers,
        );
      case 'garbage':
        req.socket.end('this is not HTTP at all\r\n\r\n');
        return;
      case 'silent':
        await new Promise<void>((resolve) => res.once('close', resolve));
        return;
      case 'slow-first-byte':
        await pause(behaviour.delayMs, res);
        if (res.destroyed) return;
        break;
      default:
        break;
    }
    const model = typeof body?.['model'] === 'string' ? body['model'] : 'unknown';
    if (path === '/v1/embeddings') {
      const vector = [0.5, 0.25, 0.125];
      // The official SDK asks for base64 and decodes it back to floats.
      const embedding = body?.['encoding_format'] === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
      return this.json(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding }], model, usage: { prompt_tokens: 4, total_tokens: 4 } });
    }
    if (path === '/v1/completions' && (body?.['stream'] !== true || behaviour.kind === 'json')) {
      return this.json(res, 200, {
        id: 'cmpl-1',
        object: 'text_completion',
        created: 1,
        model,
        choices: [{ index: 0, text: `${this.options.name}: done`, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 },
      });
    }
    if (path === '/v1/responses') return this.responses.handle(req, res, body ?? {}, behaviour);
    if (path !== '/v1/chat/completions')
      return this.json(res, 404, { error: { message: `no route ${path}`, type: 'invalid_request_error', param: null, code: null } });
    const turn = scriptedTurn(body ?? {}, this.options.name);
    if (body?.['stream'] !== true || behaviour.kind === 'json') {
      const message =
        turn.kind === 'tool'
          ? { role: 'assistant', content: null, tool_calls: [{ id: turn.callId, type: 'function', function: { name: turn.name, arguments: turn.arguments } }] }
          : { role: 'assistant', content: turn.text };
      return this.json(res, 200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model,
        choices: [{ index: 0, message, finish_reason: turn.kind === 'tool' ? 'tool_calls' : 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
      });
    }
    if (turn.kind === 'tool') return this.streamToolCall(res, model, body ?? {}, turn);
    await this.stream(req, res, model, body, behaviour);
  }

  private async stream(req: IncomingMessage, res: ServerResponse, model: string, body: Record<string, unknown>, behaviour: Behaviour): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const wantsUsage = (body['stream_options'] as { include_usage?: unknown } | undefined)?.include_usage === true;
    const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
      `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }], ...(wantsUsage ? { usage: null } : {}) })}\n\n`;
    const turn = scriptedTurn(body, this.options.name);
    const pieces = turn.kind === 'text' && turn.text !== `hello from ${this.options.name}` ? [turn.text] : ['hello', ' from ', this.options.name];
    const delay = this.options.chunkDelayMs ?? 0;
    let held = '';
    const send = async (text: string): Promise<boolean> => {
      if (res.destroyed) return false;
      if (behaviour.kind === 'one-write') {
        held += text;
        return true;
      }
      res.write(text);
      if (delay > 0) await pause(delay, res);
      return !res.destroyed;
    };
    if (!(await send(chunk({ role: 'assistant', content: '' })))) return;
    if (behaviour.kind === 'endless') {
      for (let i = 0; !res.destroyed; i++) {
        res.write(chunk({ content: `tick${i} ` }));
        await pause(behaviour.everyMs, res);
      }
      return;
    }
    for (let i = 0; i < pieces.length; i++) {
      if ((behaviour.kind === 'stall' || behaviour.kind === 'cut') && i >= behaviour.afterChunks) {
        if (behaviour.kind === 'cut') {
          // Let what was written reach the client first, so the cut is really mid-stream.
          await new Promise<void>((resolve) => res.write('', () => resolve()));
          await pause(200, res);
          req.socket.destroy();
        }
        return; // stall: keep the connection open and say nothing more
      }
      if (!(await send(chunk({ content: pieces[i] })))) return;
    }
    if (!(await send(chunk({}, 'stop')))) return;
    if (wantsUsage) {
      if (
        !(await send(
          `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } })}\n\n`,
        ))
      )
        return;
    }
    res.end(`${held}data: [DONE]\n\n`);
  }

  private streamToolCall(res: ServerResponse, model: string, body: Record<string, unknown>, turn: ToolTurn): void {
    const wantsUsage = (body['stream_options'] as { include_usage?: unknown } | undefined)?.include_usage === true;
    const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
      `data: ${JSON.stringify({ id: 'chatcmpl-2', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(
      chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: turn.callId, type: 'function', function: { name: turn.name, arguments: '' } }] }),
    );
    const half = Math.floor(turn.arguments.length / 2);
    res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: turn.arguments.slice(0, half) } }] }));
    res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: turn.arguments.slice(half) } }] }));
    res.write(chunk({}, 'tool_calls'));
    if (wantsUsage)
      res.write(
        `data: ${JSON.stringify({ id: 'chatcmpl-2', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 } })}\n\n`,
      );
    res.end('data: [DONE]\n\n');
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }
}

export async function startFake(options: FakeOptions): Promise<FakeOpenAi> {
  return new FakeOpenAi(options).start();
}
