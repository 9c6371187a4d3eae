const CHOICE_TEXT = '"choices":[{"index":0,"delta":{"content":"';
/** What may follow the content string: the rest of the one choice, then the end of the chunk. */
const TAILS = ['},"finish_reason":null}]}', '},"logprobs":null,"finish_reason":null}]}'];
const BRACE = 0x7b;
const BRACKET = 0x5b;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The text of a Chat Completions chunk of the one common shape (a single choice whose delta
 * is only `content`, no finish reason, no usage), read without parsing the chunk: this runs
 * on every chunk of every translated stream, and JSON.parse of the whole chunk cost more than
 * the rest of its translation. Undefined for any other chunk (tool calls, finish, usage, a
 * role, another member order): the caller parses that one whole.
 */
export function plainTextDelta(data: string): string | undefined {
  if (data.charCodeAt(0) !== BRACE) return undefined;
  const at = data.indexOf(CHOICE_TEXT);
  if (at < 0) return undefined;
  // Only flat members before `choices` (id, object, created, model, system_fingerprint): then
  // `choices` is the chunk's own, and no usage hides before it.
  for (let i = 1; i < at; i++) {
    const c = data.charCodeAt(i);
    if (c === BRACE || c === BRACKET) return undefined;
  }
  if (data.lastIndexOf('"usage"', at) >= 0) return undefined;
  const start = at + CHOICE_TEXT.length;
  let escaped = false;
  let end = start;
  for (; end < data.length; end++) {
    const c = data.charCodeAt(end);
    if (c === QUOTE) break;
    if (c < 0x20) return undefined;
    if (c === BACKSLASH) {
      escaped = true;
      end++;
    }
  }
  if (end >= data.length) return undefined;
  const tail = data.length - end - 1;
  if (!TAILS.some((t) => t.length === tail && data.endsWith(t))) return undefined;
  if (!escaped) return data.slice(start, end);
  try {
    return JSON.parse(data.slice(start - 1, end + 1)) as string;
  } catch {
    return undefined;
  }
}
