import { ErrorCode, PatchbayError } from '@patchbay/core';
import { isObject, parseJsonObject, type Json, str } from '../sse';
import type { WireApi } from '../wire-api';

/** Anthropic requires `max_tokens`; Chat Completions does not. */
const DEFAULT_MAX_TOKENS = 4096;

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (isObject(p) && typeof p['text'] === 'string' ? p['text'] : '')).join('');
  return '';
}

function imageBlock(url: string): Json {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return data ? { type: 'image', source: { type: 'base64', media_type: data[1], data: data[2] } } : { type: 'image', source: { type: 'url', url } };
}

function userBlocks(content: unknown): Json[] {
  if (!Array.isArray(content)) return [{ type: 'text', text: text(content) }];
  return content.flatMap((part): Json[] => {
    if (!isObject(part)) return [];
    if (part['type'] === 'image_url') {
      const image = part['image_url'];
      const url = isObject(image) ? image['url'] : image;
      return typeof url === 'string' ? [imageBlock(url)] : [];
    }
    return typeof part['text'] === 'string' ? [{ type: 'text', text: part['text'] }] : [];
  });
}

/** Appends blocks to the conversation; Anthropic wants user and assistant turns to alternate, so same-role turns merge. */
function push(messages: Json[], role: 'user' | 'assistant', blocks: Json[]): void {
  if (blocks.length === 0) return;
  const last = messages.at(-1);
  if (last && last['role'] === role) (last['content'] as Json[]).push(...blocks);
  else messages.push({ role, content: blocks });
}

function tool(value: unknown): Json | undefined {
  if (!isObject(value) || value['type'] !== 'function' || !isObject(value['function'])) return undefined;
  const fn = value['function'];
  return {
    name: fn['name'],
    ...(fn['description'] !== undefined ? { description: fn['description'] } : {}),
    input_schema: fn['parameters'] ?? { type: 'object', properties: {} },
  };
}

function toolChoice(choice: unknown, parallel: unknown): Json | undefined {
  const disable = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === 'auto' || choice === undefined) return parallel === false ? { type: 'auto', ...disable } : undefined;
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...disable };
  if (isObject(choice) && isObject(choice['function'])) return { type: 'tool', name: choice['function']['name'], ...disable };
  return undefined;
}

function refuse(param: string, message: string): PatchbayError {
  return new PatchbayError(ErrorCode.VALIDATION, message, { details: { param, code: 'unsupported_parameter' } });
}

/**
 * Why a Chat Completions request (the pivot) cannot go to the Messages API: a field Anthropic
 * has no equivalent for, which dropping would silently change the answer. Named as the client
 * spelled it (`client` is the API it called: a Responses client said `text.format`).
 */
export function anthropicRefusal(chat: Json, client: WireApi): PatchbayError | undefined {
  const n = chat['n'];
  if (n !== undefined && n !== null && n !== 1)
    return refuse('n', '`n` other than 1 cannot be served by an anthropic connector (the Messages API answers one choice); send n separate requests');
  if (chat['logprobs'] === true)
    return refuse('logprobs', '`logprobs` cannot be served by an anthropic connector (the Messages API reports no token log probabilities)');
  if (chat['top_logprobs'] !== undefined && chat['top_logprobs'] !== null && chat['top_logprobs'] !== 0)
    return refuse('top_logprobs', '`top_logprobs` cannot be served by an anthropic connector (the Messages API reports no token log probabilities)');
  const format = chat['response_format'];
  if (format === undefined || format === null) return undefined;
  const param = client === 'responses' ? 'text.format' : 'response_format';
  const type = isObject(format) ? format['type'] : undefined;
  if (type === 'text') return undefined;
  if (type === 'json_schema') {
    const spec = isObject(format) ? format['json_schema'] : undefined;
    if (isObject(spec) && isObject(spec['schema'])) return undefined;
    return refuse(
      client === 'responses' ? 'text.format.schema' : 'response_format.json_schema.schema',
      `${param}: a json_schema needs its schema for an anthropic connector`,
    );
  }
  return refuse(
    `${param}.type`,
    `${param}.type '${String(type)}' cannot be served by an anthropic connector: the Messages API constrains output only to a JSON schema (use json_schema with a schema)`,
  );
}

/** A Chat Completions request (the pivot) as an Anthropic Messages request for `model`. */
export function chatRequestToAnthropic(chat: Json, model: string, stream: boolean): Json {
  const system: string[] = [];
  const messages: Json[] = [];
  for (const message of Array.isArray(chat['messages']) ? chat['messages'] : []) {
    if (!isObject(message)) continue;
    const role = message['role'];
    if (role === 'system' || role === 'developer') system.push(text(message['content']));
    else if (role === 'user') push(messages, 'user', userBlocks(message['content']));
    else if (role === 'tool') push(messages, 'user', [{ type: 'tool_result', tool_use_id: str(message['tool_call_id']), content: text(message['content']) }]);
    else if (role === 'assistant') {
      const blocks: Json[] = [];
      const content = text(message['content']);
      if (content.length > 0) blocks.push({ type: 'text', text: content });
      for (const call of Array.isArray(message['tool_calls']) ? message['tool_calls'] : []) {
        if (!isObject(call) || !isObject(call['function'])) continue;
        const args = call['function']['arguments'];
        blocks.push({
          type: 'tool_use',
          id: str(call['id']),
          name: str(call['function']['name']),
          input: (typeof args === 'string' ? parseJsonObject(args) : undefined) ?? {},
        });
      }
      push(messages, 'assistant', blocks);
    }
  }
  const out: Json = { model, messages, max_tokens: chat['max_completion_tokens'] ?? chat['max_tokens'] ?? DEFAULT_MAX_TOKENS };
  if (system.length > 0) out['system'] = system.join('\n');
  if (chat['temperature'] != null) out['temperature'] = Math.min(1, Number(chat['temperature']));
  if (chat['top_p'] != null) out['top_p'] = chat['top_p'];
  const stop = chat['stop'];
  if (typeof stop === 'string') out['stop_sequences'] = [stop];
  else if (Array.isArray(stop) && stop.length > 0) out['stop_sequences'] = stop;
  const tools = (Array.isArray(chat['tools']) ? chat['tools'] : []).map(tool).filter((t): t is Json => t !== undefined);
  if (tools.length > 0) {
    out['tools'] = tools;
    const choice = toolChoice(chat['tool_choice'], chat['parallel_tool_calls']);
    if (choice) out['tool_choice'] = choice;
  }
  const format = chat['response_format'];
  // anthropicRefusal let only a json_schema with its schema through: the Messages API's structured output.
  if (isObject(format) && format['type'] === 'json_schema' && isObject(format['json_schema']))
    out['output_config'] = { format: { type: 'json_schema', schema: format['json_schema']['schema'] } };
  if (typeof chat['user'] === 'string') out['metadata'] = { user_id: chat['user'] };
  if (stream) out['stream'] = true;
  return out;
}
