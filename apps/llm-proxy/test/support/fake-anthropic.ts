import type { IncomingMessage, ServerResponse } from 'node:http';
import { pause, type Behaviour, type FakeOptions, type SeenRequest } from './fake-openai';
import { scriptedMessagesTurn } from './scripted-turn';

type Json = Record<string, unknown>;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'request-id': 'req_fake', ...headers });
  res.end(text);
}

function anthropicError(type: string, message: string): Json {
  return { type: 'error', error: { type, message } };
}

/**
 * Anthropic's Messages API as the fake speaks it with `provider: 'anthropic'`: key as
 * `x-api-key` (a 401 in Anthropic's shape otherwise), `anthropic-version` required, the
 * message object, the exact stream event sequence, `count_tokens`, and its failures:
 * `status` (429 `rate_limit_error` with retry-after, 529 `overloaded_error`), `slow-first-byte`,
 * `silent`, `garbage` (not HTTP), and on streams `cut`, `stall`, `endless` and `stream-error`
 * (an `event: error` on the 200 stream, then its end, as Anthropic sends when overloaded mid-answer).
 */
export class FakeAnthropicApi {
  constructor(private readonly options: FakeOptions) {}

  async handle(req: IncomingMessage, res: ServerResponse, seen: SeenRequest, behaviour: Behaviour): Promise<void> {
    const body = seen.body ?? {};
    const path = seen.path.replace(/\?.*$/, '');
    if (this.options.apiKey && req.headers['x-api-key'] !== this.options.apiKey)
      return send(
        res,
        401,
        anthropicError('authentication_error', `invalid x-api-key: ${String(req.headers['x-api-key'] ?? req.headers.authorization ?? '(none)')}`),
      );
    if (!req.headers['anthropic-version']) return send(res, 400, anthropicError('invalid_request_error', 'anthropic-version: header is required'));
    if (req.method === 'GET' && path === '/v1/models')
      return send(res, 200, {
        data: (this.options.models ?? []).map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' })),
        has_more: false,
      });
    if (behaviour.kind === 'garbage') {
      req.socket.end('this is not HTTP at all\r\n\r\n');
      return;
    }
    if (behaviour.kind === 'silent') return new Promise<void>((resolve) => res.once('close', () => resolve()));
    if (behaviour.kind === 'slow-first-byte') {
      await pause(behaviour.delayMs, res);
      if (res.destroyed) return;
    }
    if (behaviour.kind === 'status') {
      const type =
        behaviour.status === 429
          ? 'rate_limit_error'
          : behaviour.status === 529
            ? 'overloaded_error'
            : behaviour.status >= 500
              ? 'api_error'
              : 'invalid_request_error';
      return send(res, behaviour.status, behaviour.body ?? anthropicError(type, `fake ${behaviour.status}`), behaviour.headers);
    }
    if (path === '/v1/messages/count_tokens') return send(res, 200, { input_tokens: 42 });
    if (path !== '/v1/messages') return send(res, 404, anthropicError('not_found_error', `no route ${path}`));
    if (typeof body['max_tokens'] !== 'number') return send(res, 400, anthropicError('invalid_request_error', 'max_tokens: Field required'));
    const turn = scriptedMessagesTurn(body, this.options.name);
    const block: Json =
      turn.kind === 'tool'
        ? { type: 'tool_use', id: turn.callId, name: turn.name, input: JSON.parse(turn.arguments) as Json }
        : { type: 'text', text: turn.text };
    const stop = turn.kind === 'tool' ? 'tool_use' : 'end_turn';
    const message = {
      id: 'msg_fake_1',
      type: 'message',
      role: 'assistant',
      model: body['model'],
      content: [block],
      stop_reason: stop,
      stop_sequence: null,
      usage: { input_tokens: 9, output_tokens: 5 },
    };
    if (body['stream'] !== true) return send(res, 200, message);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_fake' });
    const events: Json[] = [
      { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { input_tokens: 9, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: turn.kind === 'tool' ? { ...block, input: {} } : { type: 'text', text: '' } },
      { type: 'ping' },
    ];
    if (turn.kind === 'tool') {
      const half = Math.floor(turn.arguments.length / 2);
      events.push(
        { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: turn.arguments.slice(0, half) } },
        { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: turn.arguments.slice(half) } },
      );
    } else {
      const words = turn.text.split(/(?<= )/);
      for (const word of words) events.push({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: word } });
    }
    events.push(
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 5 } },
      { type: 'message_stop' },
    );
    const write = (event: Json): void => void res.write(`event: ${String(event['type'])}\ndata: ${JSON.stringify(event)}\n\n`);
    if (behaviour.kind === 'endless') {
      for (const event of events.slice(0, 3)) write(event);
      for (let i = 0; !res.destroyed; i++) {
        write({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: `tick${i} ` } });
        await pause(behaviour.everyMs, res);
      }
      return;
    }
    const stopAt = behaviour.kind === 'cut' || behaviour.kind === 'stall' || behaviour.kind === 'stream-error' ? behaviour.afterChunks : Infinity;
    for (const [i, event] of events.entries()) {
      if (i >= stopAt) {
        if (behaviour.kind === 'cut') res.write('', () => setTimeout(() => req.socket.destroy(), 100));
        if (behaviour.kind === 'stream-error') {
          write(anthropicError(behaviour.type, behaviour.message));
          res.end();
        }
        return; // stall: the connection stays open and silent
      }
      write(event);
    }
    res.end();
  }
}
