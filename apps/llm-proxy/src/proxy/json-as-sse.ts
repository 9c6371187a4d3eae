/** What a plain JSON answer to a streaming request amounts to. */
export type JsonForStream =
  /** A completion: the same content as SSE events, ending in `[DONE]`. */
  | { kind: 'events'; bytes: Buffer }
  /** An OpenAI-style `{error}` body (some servers send it with a 2xx). */
  | { kind: 'error'; message: string }
  /** Neither: nothing a client could stream. */
  | { kind: 'unknown' };

type Json = Record<string, unknown>;

const MAX_MESSAGE = 300;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorMessage(error: unknown): string {
  const text = typeof error === 'string' ? error : isObject(error) && typeof error['message'] === 'string' ? error['message'] : 'no message';
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}...` : text;
}

/** A `chat.completion` choice as the one delta of a `chat.completion.chunk` choice. */
function chatChoiceAsDelta(choice: unknown): Json {
  const source = isObject(choice) ? choice : {};
  const message = isObject(source['message']) ? source['message'] : {};
  const delta: Json = { ...message };
  // Streamed tool calls are addressed by position.
  if (Array.isArray(message['tool_calls']))
    delta['tool_calls'] = message['tool_calls'].map((call: unknown, index) => (isObject(call) ? { index, ...call } : call));
  return { index: source['index'] ?? 0, delta, logprobs: source['logprobs'] ?? null, finish_reason: source['finish_reason'] ?? null };
}

function event(payload: Json): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/**
 * Turns the JSON an upstream answered to a `stream: true` request (it ignored `stream`,
 * or reported an error without SSE) into what the client asked for: the completion as
 * SSE chunks, with a usage-only chunk when `withUsage` and the body has usage.
 */
export function jsonAsSse(body: Buffer, withUsage: boolean): JsonForStream {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { kind: 'unknown' };
  }
  if (!isObject(parsed)) return { kind: 'unknown' };
  if (parsed['error'] !== undefined && parsed['error'] !== null) return { kind: 'error', message: errorMessage(parsed['error']) };
  const choices = parsed['choices'];
  if (!Array.isArray(choices)) return { kind: 'unknown' };
  const { usage, choices: _choices, object, ...rest } = parsed;
  let chunk: Json;
  if (object === 'chat.completion') chunk = { ...rest, object: 'chat.completion.chunk', choices: choices.map(chatChoiceAsDelta) };
  else if (object === 'text_completion') chunk = { ...rest, object, choices };
  else return { kind: 'unknown' };
  let text = event(chunk);
  if (withUsage && isObject(usage)) text += event({ ...rest, object: chunk['object'], choices: [], usage });
  return { kind: 'events', bytes: Buffer.from(`${text}data: [DONE]\n\n`) };
}
