import { ErrorCode, PatchbayError } from '@patchbay/core';
import { isObject, type Json, str } from '../sse';

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

function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((b) => (isObject(b) && b['type'] === 'text' ? str(b['text']) : '')).join('');
  return '';
}

function systemText(system: unknown): string | undefined {
  if (system === undefined || system === null) return undefined;
  return blocks(system, 'system')
    .map((b) => (b['type'] === 'text' ? str(b['text']) : ''))
    .join('\n');
}

function userMessages(content: unknown, param: string): Json[] {
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
        const text = toolResultText(block['content']);
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
  const metadata = body['metadata'];
  if (isObject(metadata) && typeof metadata['user_id'] === 'string') chat['user'] = metadata['user_id'];
  if (body['stream'] === true) chat['stream'] = true;
  return chat;
}
