import { ErrorCode, PatchbayError } from '@patchbay/core';

/** A client request body, parsed once; `raw` is what is forwarded unless `model` must change. */
export interface RequestBody {
  raw: Buffer;
  json: Record<string, unknown>;
  model: string;
  stream: boolean;
  /** The client itself asked for `stream_options.include_usage`. */
  clientWantsUsage: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MODEL_KEY = Buffer.from('"model"');

function invalid(message: string, param: string | null = null): PatchbayError {
  return new PatchbayError(ErrorCode.VALIDATION, message, { details: { param } });
}

/**
 * Parses and checks the few fields the proxy acts on (`model`, `stream`,
 * `stream_options`); everything else is the upstream's business and passes through.
 * @throws PatchbayError VALIDATION naming the field to fix.
 */
export function parseRequestBody(body: unknown): RequestBody {
  let raw: Buffer;
  if (Buffer.isBuffer(body)) raw = body;
  else if (typeof body === 'string') raw = Buffer.from(body);
  else throw invalid('send a JSON body with Content-Type: application/json');
  if (raw.length === 0) throw invalid('the request body is empty: send a JSON object with a `model`');
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw invalid(`malformed JSON body: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid('the body must be a JSON object');
  const fields = json as Record<string, unknown>;
  const model = fields['model'];
  if (typeof model !== 'string' || model.length === 0) throw invalid('`model` is required and must be a non-empty string', 'model');
  const stream = fields['stream'];
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') throw invalid('`stream` must be a boolean', 'stream');
  const options = fields['stream_options'];
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw invalid('`stream_options` must be an object', 'stream_options');
  }
  const clientWantsUsage = typeof options === 'object' && options !== null && (options as Record<string, unknown>)['include_usage'] === true;
  return { raw, json: fields, model, stream: stream === true, clientWantsUsage };
}

/** The body of a request whose fields a schema has checked already (the kit's pipeline), with the bytes it came as. */
export function requestBodyOf(
  fields: { model: string; stream?: boolean | null | undefined; stream_options?: { include_usage?: boolean | undefined } | null | undefined },
  raw: Buffer,
): RequestBody {
  return { raw, json: fields, model: fields.model, stream: fields.stream === true, clientWantsUsage: fields.stream_options?.include_usage === true };
}

/** Index just past the string starting at `start` (a quote), or -1 when unterminated. */
function stringEnd(raw: Buffer, start: number): number {
  for (let i = start + 1; i < raw.length; i++) {
    const byte = raw[i];
    if (byte === BACKSLASH) i++;
    else if (byte === QUOTE) return i + 1;
  }
  return -1;
}

function skipSpace(raw: Buffer, i: number): number {
  while (i < raw.length) {
    const b = raw[i];
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) break;
    i++;
  }
  return i;
}

/**
 * The byte span of the top-level `"model": "<value>"` string value, found by walking
 * the JSON structure (so a `"model"` inside messages is never touched). Undefined when
 * the key appears more than once or is written with escapes: the caller re-serialises.
 */
export function modelValueSpan(raw: Buffer): [number, number] | undefined {
  let depth = 0;
  let expectKey = false;
  let found: [number, number] | undefined;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (b === QUOTE) {
      const end = stringEnd(raw, i);
      if (end < 0) return undefined;
      if (depth === 1 && expectKey) {
        expectKey = false;
        if (end - i === MODEL_KEY.length && raw.compare(MODEL_KEY, 0, MODEL_KEY.length, i, end) === 0) {
          if (found) return undefined;
          let v = skipSpace(raw, end);
          if (raw[v] !== 0x3a) return undefined;
          v = skipSpace(raw, v + 1);
          if (raw[v] !== QUOTE) return undefined;
          const valueEnd = stringEnd(raw, v);
          if (valueEnd < 0) return undefined;
          found = [v, valueEnd];
          i = valueEnd - 1;
          continue;
        }
      }
      i = end - 1;
    } else if (b === 0x7b || b === 0x5b) {
      depth++;
      if (depth === 1) expectKey = b === 0x7b;
    } else if (b === 0x7d || b === 0x5d) {
      depth--;
    } else if (b === 0x2c && depth === 1) {
      expectKey = true;
    }
  }
  return found;
}

/**
 * The bytes to send upstream: the client's body untouched, except `model` (when the
 * upstream knows it by another name) and `stream_options.include_usage` (when usage
 * must be counted but the client did not ask for it).
 */
export function upstreamBody(body: RequestBody, upstreamModel: string, injectUsage: boolean): Buffer {
  const renameModel = upstreamModel !== body.model;
  if (!renameModel && !injectUsage) return body.raw;
  const options = body.json['stream_options'];
  const span = renameModel ? modelValueSpan(body.raw) : undefined;
  if ((renameModel && !span) || (injectUsage && options !== undefined && options !== null)) {
    // Rare shapes (escaped or duplicate keys, existing stream_options): re-serialise.
    const json: Record<string, unknown> = { ...body.json, model: upstreamModel };
    if (injectUsage) json['stream_options'] = { ...(options as Record<string, unknown> | null), include_usage: true };
    return Buffer.from(JSON.stringify(json));
  }
  const parts: Buffer[] = [];
  let cursor = 0;
  if (injectUsage) {
    const open = body.raw.indexOf(0x7b);
    parts.push(body.raw.subarray(0, open + 1), Buffer.from('"stream_options":{"include_usage":true},'));
    cursor = open + 1;
  }
  if (span) {
    parts.push(body.raw.subarray(cursor, span[0]), Buffer.from(JSON.stringify(upstreamModel)));
    cursor = span[1];
  }
  parts.push(body.raw.subarray(cursor));
  return Buffer.concat(parts);
}
