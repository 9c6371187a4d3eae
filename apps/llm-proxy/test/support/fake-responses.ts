import type { IncomingMessage, ServerResponse } from 'node:http';
import { pause, type Behaviour } from './fake-openai';
import { scriptedResponsesTurn } from './scripted-turn';

type Json = Record<string, unknown>;

/**
 * The Responses API (`POST /v1/responses`) of the fake OpenAI upstream: the real object and
 * event sequence. Streams honour `cut`, `stall`, `endless` and `stream-error` (the API's
 * `error` event, then the end); the other failure modes are the fake's, before it gets here.
 */
export class FakeResponsesApi {
  private counter = 0;

  constructor(private readonly name: string) {}

  async handle(req: IncomingMessage, res: ServerResponse, body: Json, behaviour: Behaviour): Promise<void> {
    const id = `resp_native_${++this.counter}`;
    const turn = scriptedResponsesTurn(body, this.name);
    const item: Json =
      turn.kind === 'tool'
        ? { id: 'fc_native_1', type: 'function_call', status: 'completed', call_id: turn.callId, name: turn.name, arguments: turn.arguments }
        : {
            id: 'msg_native_1',
            type: 'message',
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text: `${turn.text} (native responses)`, annotations: [] }],
          };
    const response = (status: string, output: Json[], usage: Json | null): Json => ({
      id,
      object: 'response',
      created_at: 1,
      status,
      error: null,
      incomplete_details: null,
      model: body['model'],
      output,
      previous_response_id: body['previous_response_id'] ?? null,
      usage,
      tools: body['tools'] ?? [],
      parallel_tool_calls: true,
      tool_choice: 'auto',
      text: { format: { type: 'text' } },
    });
    const usage = {
      input_tokens: 6,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 4,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 10,
    };
    if (body['stream'] !== true) {
      const text = JSON.stringify(response('completed', [item], usage));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let sequence = 0;
    const events: Json[] = [
      { type: 'response.created', response: response('in_progress', [], null) },
      { type: 'response.in_progress', response: response('in_progress', [], null) },
      {
        type: 'response.output_item.added',
        output_index: 0,
        item: { ...item, status: 'in_progress', ...(turn.kind === 'text' ? { content: [] } : { arguments: '' }) },
      },
    ];
    if (turn.kind === 'text') {
      const text = `${turn.text} (native responses)`;
      events.push(
        {
          type: 'response.content_part.added',
          item_id: item['id'],
          output_index: 0,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [] },
        },
        { type: 'response.output_text.delta', item_id: item['id'], output_index: 0, content_index: 0, delta: text },
        { type: 'response.output_text.done', item_id: item['id'], output_index: 0, content_index: 0, text },
        { type: 'response.content_part.done', item_id: item['id'], output_index: 0, content_index: 0, part: { type: 'output_text', text, annotations: [] } },
      );
    } else {
      events.push(
        { type: 'response.function_call_arguments.delta', item_id: item['id'], output_index: 0, delta: turn.arguments },
        { type: 'response.function_call_arguments.done', item_id: item['id'], output_index: 0, arguments: turn.arguments },
      );
    }
    events.push({ type: 'response.output_item.done', output_index: 0, item }, { type: 'response.completed', response: response('completed', [item], usage) });
    const write = (event: Json): void =>
      void res.write(`event: ${String(event['type'])}\ndata: ${JSON.stringify({ ...event, sequence_number: sequence++ })}\n\n`);
    if (behaviour.kind === 'endless') {
      for (const event of events.slice(0, 4)) write(event);
      for (let i = 0; !res.destroyed; i++) {
        write({ type: 'response.output_text.delta', item_id: item['id'], output_index: 0, content_index: 0, delta: `tick${i} ` });
        await pause(behaviour.everyMs, res);
      }
      return;
    }
    const stopAt = behaviour.kind === 'cut' || behaviour.kind === 'stall' || behaviour.kind === 'stream-error' ? behaviour.afterChunks : Infinity;
    for (const [i, event] of events.entries()) {
      if (i >= stopAt) {
        if (behaviour.kind === 'cut') res.write('', () => setTimeout(() => req.socket.destroy(), 100));
        if (behaviour.kind === 'stream-error') {
          write({ type: 'error', code: behaviour.type, message: behaviour.message, param: null });
          res.end();
        }
        return; // stall: the connection stays open and silent
      }
      write(event);
    }
    res.end();
  }
}
