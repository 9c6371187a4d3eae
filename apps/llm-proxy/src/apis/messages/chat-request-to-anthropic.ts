import { ErrorCode, PatchbayError } from '@patchbay/core';
import { droppedField, isEmptyObject, isFalse, isZero, never, type FieldRule } from '../field-audit';
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
    ...(typeof fn['strict'] === 'boolean' ? { strict: fn['strict'] } : {}),
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
 * Each Chat Completions field an anthropic connector can be asked for: carried over by
 * {@link chatRequestToAnthropic} (`mapped`, value checks in {@link anthropicRefusal}), or
 * harmless only at its no-op default. Any other field set is refused, never dropped.
 */
const CHAT_FIELDS: Readonly<Record<string, FieldRule>> = {
  model: 'mapped',
  messages: 'mapped',
  max_tokens: 'mapped',
  max_completion_tokens: 'mapped',
  temperature: 'mapped',
  top_p: 'mapped',
  top_k: 'mapped',
  stop: 'mapped',
  tools: 'mapped',
  tool_choice: 'mapped',
  parallel_tool_calls: 'mapped',
  response_format: 'mapped',
  user: 'mapped',
  safety_identifier: 'mapped',
  service_tier: 'mapped',
  stream: 'mapped',
  stream_options: 'mapped',
  n: 'mapped',
  logprobs: 'mapped',
  top_logprobs: 'mapped',
  // A key for OpenAI's prompt cache routing: it never changes an answer.
  prompt_cache_key: () => true,
  frequency_penalty: isZero,
  presence_penalty: isZero,
  logit_bias: isEmptyObject,
  store: isFalse,
  metadata: isEmptyObject,
  modalities: (value) => Array.isArray(value) && value.every((m) => m === 'text'),
  verbosity: (value) => value === 'medium',
  seed: never,
  audio: never,
  prediction: never,
  reasoning_effort: never,
  functions: never,
  function_call: never,
  web_search_options: never,
};

/** The Responses spelling of the pivot fields a Responses client set under another name. */
const RESPONSES_NAMES: Readonly<Record<string, string>> = {
  max_tokens: 'max_output_tokens',
  response_format: 'text.format',
  reasoning_effort: 'reasoning.effort',
  verbosity: 'text.verbosity',
};

const SERVICE_TIERS: Readonly<Record<string, string>> = { auto: 'auto', default: 'standard_only' };

/** Why a message of the pivot has no Messages equivalent (its role, a content part, a legacy field). */
function messageRefusal(messages: unknown): PatchbayError | undefined {
  if (!Array.isArray(messages)) return undefined;
  for (const [i, message] of messages.entries()) {
    if (!isObject(message)) continue;
    const role = message['role'];
    if (role !== 'system' && role !== 'developer' && role !== 'user' && role !== 'assistant' && role !== 'tool')
      return refuse(
        `messages[${i}].role`,
        `messages[${i}].role '${String(role)}' cannot be served by an anthropic connector (system, developer, user, assistant, tool)`,
      );
    for (const legacy of ['function_call', 'audio'])
      if (message[legacy] !== undefined && message[legacy] !== null)
        return refuse(`messages[${i}].${legacy}`, `messages[${i}].${legacy} cannot be served by an anthropic connector`);
    const content = message['content'];
    if (!Array.isArray(content)) continue;
    for (const [j, part] of content.entries()) {
      const type = isObject(part) ? part['type'] : undefined;
      if (type === 'text' || (type === 'image_url' && role === 'user')) continue;
      return refuse(
        `messages[${i}].content[${j}].type`,
        `messages[${i}].content[${j}].type '${String(type)}' cannot be served by an anthropic connector (text${role === 'user' ? ' and image_url' : ''} parts in ${String(role)} messages)`,
      );
    }
  }
  return undefined;
}

function toolsRefusal(tools: unknown, choice: unknown): PatchbayError | undefined {
  if (Array.isArray(tools))
    for (const [i, value] of tools.entries())
      if (tool(value) === undefined) return refuse(`tools[${i}].type`, `tools[${i}]: only function tools can be served by an anthropic connector`);
  if (choice === undefined || choice === null || choice === 'auto' || choice === 'none' || choice === 'required') return undefined;
  if (isObject(choice) && choice['type'] === 'function' && isObject(choice['function'])) return undefined;
  return refuse('tool_choice', '`tool_choice` must be auto, none, required or {type: "function", function: {name}} for an anthropic connector');
}

/**
 * Why a Chat Completions request (the pivot) cannot go to the Messages API: a field Anthropic
 * has no equivalent for, which dropping would silently change the answer. Named as the client
 * spelled it (`client` is the API it called: a Responses client said `text.format`).
 */
export function anthropicRefusal(chat: Json, client: WireApi): PatchbayError | undefined {
  const dropped = droppedField(chat, CHAT_FIELDS);
  if (dropped !== undefined) {
    const param = client === 'responses' ? (RESPONSES_NAMES[dropped] ?? dropped) : dropped;
    return refuse(
      param,
      `\`${param}\` cannot be served by an anthropic connector: the Messages API has no equivalent (leave it out or at its default, or use a model an OpenAI-compatible connector serves)`,
    );
  }
  const n = chat['n'];
  if (n !== undefined && n !== null && n !== 1)
    return refuse('n', '`n` other than 1 cannot be served by an anthropic connector (the Messages API answers one choice); send n separate requests');
  if (chat['logprobs'] === true)
    return refuse('logprobs', '`logprobs` cannot be served by an anthropic connector (the Messages API reports no token log probabilities)');
  if (chat['top_logprobs'] !== undefined && chat['top_logprobs'] !== null && chat['top_logprobs'] !== 0)
    return refuse('top_logprobs', '`top_logprobs` cannot be served by an anthropic connector (the Messages API reports no token log probabilities)');
  const temperature = chat['temperature'];
  if (typeof temperature === 'number' && temperature > 1)
    return refuse('temperature', '`temperature` above 1 cannot be served by an anthropic connector (the Messages API takes 0 to 1)');
  const tier = chat['service_tier'];
  if (tier !== undefined && tier !== null && (typeof tier !== 'string' || SERVICE_TIERS[tier] === undefined))
    return refuse('service_tier', `\`service_tier\` ${JSON.stringify(tier)} cannot be served by an anthropic connector (auto or default)`);
  const refused = messageRefusal(chat['messages']) ?? toolsRefusal(chat['tools'], chat['tool_choice']);
  if (refused) return refused;
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
  // anthropicRefusal let through only what maps: temperature within 0..1, a known service tier.
  if (chat['temperature'] != null) out['temperature'] = chat['temperature'];
  if (chat['top_p'] != null) out['top_p'] = chat['top_p'];
  if (chat['top_k'] != null) out['top_k'] = chat['top_k'];
  const tier = chat['service_tier'];
  if (typeof tier === 'string' && SERVICE_TIERS[tier]) out['service_tier'] = SERVICE_TIERS[tier];
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
  const user = typeof chat['user'] === 'string' ? chat['user'] : chat['safety_identifier'];
  if (typeof user === 'string') out['metadata'] = { user_id: user };
  if (stream) out['stream'] = true;
  return out;
}
