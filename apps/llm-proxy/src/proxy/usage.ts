/** Token usage as reported by the upstream. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** Reads a `usage` object (Chat Completions' prompt/completion or Responses' and Anthropic's input/output tokens); undefined when absent or null. */
export function usageFrom(value: unknown): Usage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const usage = value as Record<string, unknown>;
  const promptTokens = count(usage['prompt_tokens'] ?? usage['input_tokens']);
  const completionTokens = count(usage['completion_tokens'] ?? usage['output_tokens']);
  return { promptTokens, completionTokens, totalTokens: count(usage['total_tokens']) || promptTokens + completionTokens };
}

const USAGE_KEY = Buffer.from('"usage"');

/**
 * The `usage` of a JSON response body without parsing the whole body (embeddings can
 * be megabytes): OpenAI-compatible servers put it at the top level, usually last, so
 * the last `"usage"` key is read and only its object is parsed.
 */
export function usageFromJsonBody(body: Buffer): Usage | undefined {
  const key = body.lastIndexOf(USAGE_KEY);
  if (key < 0) return undefined;
  let i = key + USAGE_KEY.length;
  while (i < body.length && body[i] !== 0x3a) i++;
  i++;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++;
  if (body[i] !== 0x7b) return undefined;
  let depth = 0;
  for (let j = i; j < body.length; j++) {
    const b = body[j];
    if (b === 0x22) {
      for (j++; j < body.length && body[j] !== 0x22; j++) if (body[j] === 0x5c) j++;
    } else if (b === 0x7b) depth++;
    else if (b === 0x7d && --depth === 0) {
      try {
        return usageFrom(JSON.parse(body.subarray(i, j + 1).toString('utf8')));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
