import { ErrorCode, PatchbayError } from '@patchbay/core';
import { droppedField, never, type FieldRule } from '../field-audit';
import { isObject, type Json, str } from '../sse';

/**
 * Each Messages field a Chat Completions upstream can be asked for: carried over (`mapped`),
 * or harmless only at its no-op default. Any other field set is refused, never dropped.
 * (`cache_control` marks inside blocks are Anthropic's prompt-cache hints: they change no answer.)
 */
const MESSAGES_FIELDS: Readonly<Record<string, FieldRule>> = {
  model: 'mapped',
  messages: 'mapped',
  max_tokens: 'mapped',
  system: 'mapped',
  temperature: 'mapped',
  top_p: 'mapped',
  stop_sequences: 'mapped',
  tools: 'mapped',
  tool_choice: 'mapped',
  metadata: 'mapped',
  stream: 'mapped',
  thinking: 'mapped',
  service_tier: 'mapped',
  output_format: 'mapped',
  output_config: 'mapped',
  context_management: 'mapped',
  top_k: never,
  container: never,
  mcp_servers: never,
};

const SERVICE_TIERS: Readonly<Record<string, string>> = { auto: 'auto', standard_only: 'default' };

/** Chat Completions' reasoning effort for an extended-thinking budget (Anthropic's minimum budget is 1024). */
function effortFor(budget: unknown): string {
  const tokens = typeof budget === 'number' ? budget : 0;
  return tokens < 4096 ? 'low' : tokens < 16384 ? 'medium' : 'high';
}

/** Anthropic's `output_config.effort` as Chat Completions' reasoning effort (`high` is the most it generally takes). */
const EFFORTS: Readonly<Record<string, string>> = { low: 'low', medium: 'medium', high: 'high', xhigh: 'high', max: 'high' };

/**
 * Context editing clears old tool results or thinking server-side once the context grows
 * past a trigger. Translated, the whole conversation is sent, as when no edit triggers
 * (thinking blocks never reach a Chat upstream anyway): it costs tokens, it loses nothing.
 * Claude Code sends it on every request, so refusing it would shut Claude Code out.
 */
function checkContextManagement(value: unknown): void {
  if (value === undefined || value === null) return;
  const edits = isObject(value) ? value['edits'] : undefined;
  if (!isObject(value) || (edits !== undefined && !Array.isArray(edits))) throw invalid('context_management', 'context_management must be {edits: [...]}');
  (edits ?? []).forEach((edit: unknown, i: number) => {
    if (!isObject(edit) || typeof edit['type'] !== 'string')
      throw invalid(`context_management.edits.${i}.type`, `context_management.edits.${i} must be an edit with a type`);
  });
}

/** The top-level fields of a Messages request that do not map one to one. */
function extras(body: Json): Json {
  const dropped = droppedField(body, MESSAGES_FIELDS);
  if (dropped !== undefined)
    throw invalid(dropped, `${dropped}: cannot be translated to Chat Completions for this model's connector (leave it out)`, 'unsupported_parameter');
  const out: Json = {};
  const metadata = body['metadata'];
  if (isObject(metadata)) {
    const other = Object.keys(metadata).find((key) => key !== 'user_id' && metadata[key] !== undefined && metadata[key] !== null);
    if (other) throw invalid(`metadata.${other}`, `metadata.${other}: only metadata.user_id can be translated`, 'unsupported_parameter');
    if (typeof metadata['user_id'] === 'string') out['user'] = metadata['user_id'];
  }
  checkContextManagement(body['context_management']);
  const thinking = body['thinking'];
  const thinkingType = isObject(thinking) ? thinking['type'] : undefined;
  if (thinkingType === 'enabled') out['reasoning_effort'] = effortFor((thinking as Json)['budget_tokens']);
  // Adaptive thinking leaves it to the model whether to think: a model that does not is within it.
  else if (thinking !== undefined && thinking !== null && thinkingType !== 'disabled' && thinkingType !== 'adaptive')
    throw invalid('thinking.type', 'thinking.type must be enabled, adaptive or disabled', 'unsupported_parameter');
  const tier = body['service_tier'];
  if (tier !== undefined && tier !== null) {
    if (typeof tier !== 'string' || SERVICE_TIERS[tier] === undefined) throw invalid('service_tier', 'service_tier must be auto or standard_only');
    out['service_tier'] = SERVICE_TIERS[tier];
  }
  const config = isObject(body['output_config']) ? body['output_config'] : {};
  const other = Object.keys(config).find((key) => key !== 'format' && key !== 'effort' && config[key] !== undefined && config[key] !== null);
  if (other) throw invalid(`output_config.${other}`, `output_config.${other}: cannot be translated to Chat Completions`, 'unsupported_parameter');
  const effort = config['effort'];
  if (effort !== undefined && effort !== null) {
    const level = typeof effort === 'string' ? EFFORTS[effort] : undefined;
    if (!level) throw invalid('output_config.effort', `output_config.effort must be one of ${Object.keys(EFFORTS).join(', ')}`);
    out['reasoning_effort'] = level;
  }
  const format = config['format'] ?? body['output_format'];
  if (format !== undefined && format !== null) {
    const param = config['format'] !== undefined ? 'output_config.format' : 'output_format';
    if (!isObject(format) || format['type'] !== 'json_schema' || !isObject(format['schema']))
      throw invalid(param, `${param} must be {type: "json_schema", schema}`, 'unsupported_parameter');
    out['response_format'] = { type: 'json_schema', json_schema: { name: 'output', schema: format['schema'] } };
  }
  return out;
}

function invalid(param: string, message: string, code?: string): PatchbayError {
  return new PatchbayError(ErrorCode.VALIDATION, message, { details: { param, ...(code ? { code } : {}) } });
}

function blocks(content: unknown, param: string): Json[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw invalid(param, `${param} must be a string or an array of content blocks`);
  return content.map((block, i) => {
    if (!isObject(block)) throw invalid(`${param}.${i}`, `${param}.${i} must be a content block object`);
    return block;
  });
}

function imageUrl(block: Json, param: string): string {
  const source = block['source'];
  if (isObject(source) && source['type'] === 'base64') return `data:${String(source['media_type'])};base64,${String(source['data'])}`;
  if (isObject(source) && source['type'] === 'url' && typeof source['url'] === 'string') return source['url'];
  throw invalid(`${param}.source`, `${param}.source must be {type: "base64", media_type, data} or {type: "url", url}`);
}

/** A tool result's text: Chat Completions tool messages carry text only, so other blocks are refused. */
function toolResultText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block, i) => {
      if (isObject(block) && block['type'] === 'text') return str(block['text']);
      const type = isObject(block) ? String(block['type']) : typeof block;
      throw invalid(
        `${param}.${i}.type`,
        `${param}.${i}.type '${type}' cannot be translated: tool results reach this model's connector as text only`,
        'unsupported_content',
      );
    })
    .join('');
}

function systemText(system: unknown): string | undefined {
  if (system === undefined || system === null) return undefined;
  if (typeof system === 'string') return system;
  return blocks(system, 'system')
    .map((b) => (b['type'] === 'text' ? str(b['text']) : ''))
    .join('\n');
}

function userMessages(content: unknown, param: string): Json[] {
  // The usual turn: a string is one text block, which is the message's text (without the blocks made for it).
  if (typeof content === 'string') return [{ role: 'user', content }];
  const out: Json[] = [];
  const parts: Json[] = [];
  blocks(content, param).forEach((block, i) => {
    const at = `${param}.${i}`;
    switch (block['type']) {
      case 'text':
        parts.push({ type: 'text', text: str(block['text']) });
        break;
      case 'image':
        parts.push({ type: 'image_url', image_url: { url: imageUrl(block, at) } });
        break;
      case 'tool_result': {
        const text = toolResultText(block['content'], `${at}.content`);
        // Tool results answer the assistant's tool calls: in Chat Completions they are `tool` messages.
        out.push({ role: 'tool', tool_call_id: str(block['tool_use_id']), content: block['is_error'] === true ? `Error: ${text}` : text });
        break;
      }
      default:
        throw invalid(
          `${at}.type`,
          `${at}.type '${String(block['type'])}' cannot be translated for this model's connector (text, image, tool_result)`,
          'unsupported_content',
        );
    }
  });
  if (parts.length > 0) out.push({ role: 'user', content: parts.every((p) => p['type'] === 'text') ? parts.map((p) => p['text']).join('') : parts });
  return out;
}

function assistantMessage(content: unknown, param: string): Json {
  let text = '';
  const calls: Json[] = [];
  blocks(content, param).forEach((block, i) => {
    if (block['type'] === 'text') text += str(block['text']);
    else if (block['type'] === 'tool_use')
      calls.push({
        id: str(block['id']),
        type: 'function',
        function: { name: str(block['name']), arguments: JSON.stringify(block['input'] ?? {}) },
      });
    else if (block['type'] !== 'thinking' && block['type'] !== 'redacted_thinking')
      throw invalid(`${param}.${i}.type`, `${param}.${i}.type '${String(block['type'])}' cannot be translated (text, tool_use)`, 'unsupported_content');
  });
  return { role: 'assistant', content: text.length > 0 ? text : null, ...(calls.length > 0 ? { tool_calls: calls } : {}) };
}

function tools(value: unknown): Json[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalid('tools', '`tools` must be an array');
  return value.map((tool, i) => {
    if (!isObject(tool) || (tool['type'] !== undefined && tool['type'] !== 'custom'))
      throw invalid(
        `tools.${i}.type`,
        `tools.${i}: server tools ('${String(isObject(tool) ? tool['type'] : tool)}') cannot be translated; only client tools with an input_schema`,
        'unsupported_tool',
      );
    return {
      type: 'function',
      function: {
        name: tool['name'],
        ...(tool['description'] !== undefined ? { description: tool['description'] } : {}),
        parameters: tool['input_schema'] ?? { type: 'object', properties: {} },
      },
    };
  });
}

function toolChoice(choice: unknown): { tool_choice?: unknown; parallel_tool_calls?: boolean } {
  if (!isObject(choice)) return {};
  const parallel = choice['disable_parallel_tool_use'] === true ? { parallel_tool_calls: false } : {};
  switch (choice['type']) {
    case 'auto':
      return { tool_choice: 'auto', ...parallel };
    case 'any':
      return { tool_choice: 'required', ...parallel };
    case 'none':
      return { tool_choice: 'none' };
    case 'tool':
      return { tool_choice: { type: 'function', function: { name: choice['name'] } }, ...parallel };
    default:
      throw invalid('tool_choice.type', '`tool_choice.type` must be auto, any, tool or none');
  }
}

/**
 * An Anthropic Messages request as a Chat Completions request (the pivot).
 * @throws PatchbayError VALIDATION naming the field (Anthropic's dotted path) that cannot be translated.
 */
export function messagesRequestToChat(body: Json): Json {
  const messages: Json[] = [];
  const system = systemText(body['system']);
  if (system) messages.push({ role: 'system', content: system });
  const input = body['messages'];
  if (!Array.isArray(input)) throw invalid('messages', '`messages` must be an array');
  input.forEach((message, i) => {
    if (!isObject(message)) throw invalid(`messages.${i}`, `messages.${i} must be an object`);
    if (message['role'] === 'user') messages.push(...userMessages(message['content'], `messages.${i}.content`));
    else if (message['role'] === 'assistant') messages.push(assistantMessage(message['content'], `messages.${i}.content`));
    else throw invalid(`messages.${i}.role`, `messages.${i}.role must be user or assistant`);
  });
  const chat: Json = { model: body['model'], messages, max_tokens: body['max_tokens'] };
  if (body['temperature'] !== undefined) chat['temperature'] = body['temperature'];
  if (body['top_p'] !== undefined) chat['top_p'] = body['top_p'];
  if (Array.isArray(body['stop_sequences']) && body['stop_sequences'].length > 0) chat['stop'] = body['stop_sequences'];
  const translated = tools(body['tools']);
  if (translated && translated.length > 0) Object.assign(chat, { tools: translated }, toolChoice(body['tool_choice']));
  Object.assign(chat, extras(body));
  if (body['stream'] === true) chat['stream'] = true;
  return chat;
}
