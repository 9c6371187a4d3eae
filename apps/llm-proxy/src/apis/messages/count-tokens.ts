import type * as GptTokenizer from 'gpt-tokenizer';
import { isObject, type Json, str } from '../sse';

/** Loaded on the first count: its encoder tables cost about 70 MB and 0.3 s at start-up in every proxy, most of which never count. */
let tokenizer: typeof GptTokenizer | undefined;

function countTokens(text: string): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous lazy load; `import()` would make every count async
  tokenizer ??= require('gpt-tokenizer') as typeof GptTokenizer;
  return tokenizer.countTokens(text);
}

/** Anthropic bills a resized image at about width*height/750 tokens, at most about this many; the bytes are not decoded here. */
const IMAGE_TOKENS = 1600;
/** Role markers and separators around each message, as chat templates add them. */
const PER_MESSAGE = 3;

function blockTokens(block: unknown): number {
  if (typeof block === 'string') return countTokens(block);
  if (!isObject(block)) return 0;
  switch (block['type']) {
    case 'text':
      return countTokens(str(block['text']));
    case 'image':
      return IMAGE_TOKENS;
    case 'tool_use':
      return countTokens(`${str(block['name'])} ${JSON.stringify(block['input'] ?? {})}`);
    case 'tool_result':
      return Array.isArray(block['content']) ? block['content'].reduce((sum: number, b) => sum + blockTokens(b), 0) : blockTokens(block['content']);
    default:
      return countTokens(JSON.stringify(block));
  }
}

function contentTokens(content: unknown): number {
  return Array.isArray(content) ? content.reduce((sum: number, block) => sum + blockTokens(block), 0) : blockTokens(content);
}

/**
 * The input tokens of a Messages request, counted with a real BPE tokenizer (o200k, from
 * `gpt-tokenizer`) when no connector serving the model can count natively. Claude's own
 * tokenizer is not published, so this is an estimate of the same order, not Anthropic's figure.
 */
export function estimateInputTokens(body: Json): number {
  let total = contentTokens(body['system'] ?? '');
  for (const message of Array.isArray(body['messages']) ? body['messages'] : [])
    if (isObject(message)) total += PER_MESSAGE + contentTokens(message['content']);
  for (const tool of Array.isArray(body['tools']) ? body['tools'] : [])
    if (isObject(tool)) total += countTokens(`${str(tool['name'])} ${str(tool['description'])} ${JSON.stringify(tool['input_schema'] ?? {})}`);
  return total;
}
