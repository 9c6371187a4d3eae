import { ErrorCode, PatchbayError } from '@patchbay/core';
import { droppedField, isFalse, isZero, never, type FieldRule } from '../field-audit';
import { isObject, type Json, str } from '../sse';

/**
 * Each Responses field a Chat Completions upstream can be asked for: carried over
 * (`mapped`; the proxy itself serves `store`, `previous_response_id` and `metadata`), or
 * harmless only at its no-op default. Any other field set is refused, never dropped.
 */
const RESPONSES_FIELDS: Readonly<Record<string, FieldRule>> = {
  model: 'mapped',
  input: 'mapped',
  instructions: 'mapped',
  temperature: 'mapped',
  top_p: 'mapped',
  max_output_tokens: 'mapped',
  parallel_tool_calls: 'mapped',
  user: 'mapped',
  seed: 'mapped',
  tools: 'mapped',
  tool_choice: 'mapped',
  text: 'mapped',
  reasoning: 'mapped',
  stream: 'mapped',
  store: 'mapped',
  previous_response_id: 'mapped',
  metadata: 'mapped',
  prompt_cache_key: 'mapped',
  safety_identifier: 'mapped',
  service_tier: 'mapped',
  // Stream padding against side channels: no content is lost without it.
  stream_options: () => true,
  // A Chat Completions upstream makes no reasoning items, so there is no encrypted reasoning to include.
  include: (value) => Array.isArray(value) && value.every((entry) => entry === 'reasoning.encrypted_content'),
  truncation: (value) => value === 'disabled',
  background: isFalse,
  top_logprobs: isZero,
  max_tool_calls: never,
  conversation: never,
  prompt: never,
};

/** The fields of `text` and `reasoning` that map (`format`, `verbosity`; `effort`). */
const TEXT_FIELDS: Readonly<Record<string, FieldRule>> = { format: 'mapped', verbosity: 'mapped' };
const REASONING_FIELDS: Readonly<Record<string, FieldRule>> = { effort: 'mapped', summary: never, generate_summary: never };

function untranslatable(body: Json): PatchbayError | undefined {
  const dropped = droppedField(body, RESPONSES_FIELDS);
  const nested = (name: 'text' | 'reasoning', rules: Readonly<Record<string, FieldRule>>): string | undefined => {
    const value = body[name];
    const field = isObject(value) ? droppedField(value, rules) : undefined;
    return field === undefined ? undefined : `${name}.${field}`;
  };
  const param = dropped ?? nested('text', TEXT_FIELDS) ?? nested('reasoning', REASONING_FIELDS);
  if (param === undefined) return undefined;
  return unsupported(
    param,
    `\`${param}\` cannot be translated to Chat Completions for this model's connector (leave it out or at its default, or use a connector that serves the Responses API natively)`,
  );
}

function unsupported(param: string, message: string): PatchbayError {
  return new PatchbayError(ErrorCode.VALIDATION, message, { details: { param, code: 'unsupported_parameter' } });
}

function invalid(param: string, message: string): PatchbayError {
  return new PatchbayError(ErrorCode.VALIDATION, message, { details: { param } });
}

/** The input items of a Responses request as a list (a string is one user message). */
export function inputItems(input: unknown): Json[] {
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  if (!Array.isArray(input)) throw invalid('input', '`input` must be a string or an array of input items');
  return input.map((item, i) => {
    if (!isObject(item)) throw invalid(`input[${i}]`, `input[${i}] must be an object`);
    return item;
  });
}

function contentPart(part: unknown, param: string): Json {
  if (!isObject(part)) throw invalid(param, `${param} must be an object`);
  switch (part['type']) {
    case 'input_text':
    case 'output_text':
    case 'text':
      return { type: 'text', text: str(part['text']) };
    case 'refusal':
      return { type: 'text', text: str(part['refusal']) };
    case 'input_image': {
      const url = part['image_url'];
      if (typeof url !== 'string')
        throw unsupported(param, `${param}: only input_image with an image_url (a URL or data: URL) can be translated to Chat Completions`);
      return { type: 'image_url', image_url: { url, ...(typeof part['detail'] === 'string' ? { detail: part['detail'] } : {}) } };
    }
    default:
      throw unsupported(`${param}.type`, `${param}.type '${String(part['type'])}' cannot be translated to Chat Completions (use input_text or input_image)`);
  }
}

function messageContent(content: unknown, param: string, role: string): unknown {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(param, `${param} must be a string or an array of content parts`);
  const parts = content.map((part, i) => contentPart(part, `${param}[${i}]`));
  // Only user messages may carry images; everything else is plain text in Chat Completions.
  if (role !== 'user' || parts.every((p) => p['type'] === 'text')) return parts.map((p) => str(p['text'])).join('');
  return parts;
}

function outputText(output: unknown): string {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) return output.map((p) => (isObject(p) && typeof p['text'] === 'string' ? p['text'] : '')).join('');
  return JSON.stringify(output ?? '');
}

/** Responses input items as Chat Completions messages (function calls folded into assistant messages). */
function itemsToMessages(items: readonly Json[]): Json[] {
  const messages: Json[] = [];
  items.forEach((item, i) => {
    const type = item['type'] ?? 'message';
    const param = `input[${i}]`;
    if (type === 'message') {
      const role = item['role'];
      if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer')
        throw invalid(`${param}.role`, `${param}.role must be user, assistant, system or developer`);
      messages.push({ role: role === 'developer' ? 'system' : role, content: messageContent(item['content'], `${param}.content`, role) });
    } else if (type === 'function_call') {
      const call = {
        id: str(item['call_id']),
        type: 'function',
        function: { name: str(item['name']), arguments: str(item['arguments']) },
      };
      const last = messages.at(-1);
      // Parallel calls (and text before them) are one assistant turn in Chat Completions.
      if (last && last['role'] === 'assistant') last['tool_calls'] = [...((last['tool_calls'] as Json[] | undefined) ?? []), call];
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      if (typeof item['call_id'] !== 'string') throw invalid(`${param}.call_id`, `${param}.call_id is required`);
      messages.push({ role: 'tool', tool_call_id: item['call_id'], content: outputText(item['output']) });
    } else if (type === 'reasoning') {
      // Reasoning items belong to the model that made them; a Chat Completions upstream cannot take them back.
    } else {
      throw unsupported(
        `${param}.type`,
        `${param}.type '${str(type, JSON.stringify(type))}' cannot be translated to Chat Completions (message, function_call, function_call_output)`,
      );
    }
  });
  return messages;
}

function tools(value: unknown): Json[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalid('tools', '`tools` must be an array');
  return value.map((tool, i) => {
    if (!isObject(tool) || tool['type'] !== 'function')
      throw unsupported(
        `tools[${i}].type`,
        `tools[${i}].type '${String(isObject(tool) ? tool['type'] : tool)}' cannot be translated to Chat Completions: only function tools`,
      );
    const fn: Json = { name: tool['name'] };
    if (tool['description'] !== undefined) fn['description'] = tool['description'];
    if (tool['parameters'] !== undefined && tool['parameters'] !== null) fn['parameters'] = tool['parameters'];
    if (typeof tool['strict'] === 'boolean') fn['strict'] = tool['strict'];
    return { type: 'function', function: fn };
  });
}

function toolChoice(value: unknown): unknown {
  if (value === undefined || value === null || typeof value === 'string') return value ?? undefined;
  if (isObject(value) && value['type'] === 'function') return { type: 'function', function: { name: value['name'] } };
  throw unsupported('tool_choice', '`tool_choice` must be auto, none, required or {type: "function", name}');
}

function responseFormat(text: unknown): unknown {
  const format = isObject(text) ? text['format'] : undefined;
  if (!isObject(format) || format['type'] === 'text') return undefined;
  if (format['type'] === 'json_object') return { type: 'json_object' };
  if (format['type'] === 'json_schema') {
    return {
      type: 'json_schema',
      json_schema: { name: format['name'], schema: format['schema'], ...(typeof format['strict'] === 'boolean' ? { strict: format['strict'] } : {}) },
    };
  }
  throw unsupported('text.format.type', `text.format.type '${String(format['type'])}' cannot be translated`);
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/**
 * A Responses request as a Chat Completions request (the pivot). `history` is the
 * conversation of `previous_response_id`, already as input items.
 * @throws PatchbayError VALIDATION naming the field that cannot be translated.
 */
export function responsesRequestToChat(body: Json, history: readonly Json[]): Json {
  const refused = untranslatable(body);
  if (refused) throw refused;
  const messages: Json[] = [];
  if (typeof body['instructions'] === 'string' && body['instructions'].length > 0) messages.push({ role: 'system', content: body['instructions'] });
  messages.push(...itemsToMessages([...history, ...inputItems(body['input'])]));
  if (messages.length === 0) throw invalid('input', '`input` is required');
  const chat: Json = { model: body['model'], messages };
  // Each field read and set by its own name: a helper taking the names made these keyed
  // loads and stores megamorphic (a property added that way goes through the runtime).
  if (isSet(body['temperature'])) chat['temperature'] = body['temperature'];
  if (isSet(body['top_p'])) chat['top_p'] = body['top_p'];
  if (isSet(body['max_output_tokens'])) chat['max_tokens'] = body['max_output_tokens'];
  if (isSet(body['parallel_tool_calls'])) chat['parallel_tool_calls'] = body['parallel_tool_calls'];
  if (isSet(body['user'])) chat['user'] = body['user'];
  if (isSet(body['seed'])) chat['seed'] = body['seed'];
  if (isSet(body['prompt_cache_key'])) chat['prompt_cache_key'] = body['prompt_cache_key'];
  if (isSet(body['safety_identifier'])) chat['safety_identifier'] = body['safety_identifier'];
  if (isSet(body['service_tier'])) chat['service_tier'] = body['service_tier'];
  const translatedTools = tools(body['tools']);
  if (translatedTools && translatedTools.length > 0) chat['tools'] = translatedTools;
  const choice = toolChoice(body['tool_choice']);
  if (choice !== undefined && translatedTools && translatedTools.length > 0) chat['tool_choice'] = choice;
  const format = responseFormat(body['text']);
  if (format) chat['response_format'] = format;
  if (isObject(body['text']) && typeof body['text']['verbosity'] === 'string') chat['verbosity'] = body['text']['verbosity'];
  const reasoning = body['reasoning'];
  if (isObject(reasoning) && typeof reasoning['effort'] === 'string') chat['reasoning_effort'] = reasoning['effort'];
  if (body['stream'] === true) chat['stream'] = true;
  return chat;
}
