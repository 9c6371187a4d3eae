import { STDIO_DEFAULT_MAX_BUFFER_SIZE } from '@modelcontextprotocol/sdk/shared/stdio.js';
import { JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/**
 * True for the message a tool call's answer almost always is: `{jsonrpc, id, result}`
 * with nothing else, an integer or string id and a plain result object. For exactly that
 * shape the SDK's schema check is already decided (a strict object, a loose result), so
 * it is skipped; anything else goes through the schema.
 */
function isPlainResult(value: unknown): value is JSONRPCMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  let keys = 0;
  for (const key in message) if (Object.hasOwn(message, key)) keys++;
  const { id, result } = message;
  return (
    keys === 3 &&
    message['jsonrpc'] === '2.0' &&
    (typeof id === 'string' || Number.isInteger(id)) &&
    typeof result === 'object' &&
    result !== null &&
    !Array.isArray(result) &&
    !('_meta' in result)
  );
}

/** One line of a server's stdout as a JSON-RPC message. @throws on bad JSON or a message the SDK's schema refuses. */
export function parseStdioMessage(line: string): JSONRPCMessage {
  const value: unknown = JSON.parse(line);
  return isPlainResult(value) ? value : JSONRPCMessageSchema.parse(value);
}

/**
 * Newline-delimited JSON-RPC from a stdio server, as the SDK's ReadBuffer reads it (same
 * size cap, same CRLF handling), with the cheaper check above on the hot message shape:
 * the schema check of every answer was a tenth of the broker's CPU per relayed call.
 */
export class StdioMessageBuffer {
  private buffer: Buffer | undefined;

  constructor(private readonly maxBufferSize = STDIO_DEFAULT_MAX_BUFFER_SIZE) {}

  /** @throws Error when more than the cap is buffered without a newline (the buffer is dropped). */
  append(chunk: Buffer): void {
    const size = (this.buffer?.length ?? 0) + chunk.length;
    if (size > this.maxBufferSize) {
      this.clear();
      throw new Error(`stdio message buffer exceeded ${this.maxBufferSize} bytes`);
    }
    this.buffer = this.buffer ? Buffer.concat([this.buffer, chunk]) : chunk;
  }

  /** The next complete message, or null. @throws on a malformed line (which is consumed). */
  readMessage(): JSONRPCMessage | null {
    const buffer = this.buffer;
    if (!buffer) return null;
    const index = buffer.indexOf(0x0a);
    if (index === -1) return null;
    const end = index > 0 && buffer[index - 1] === 0x0d ? index - 1 : index;
    const line = buffer.toString('utf8', 0, end);
    this.buffer = index + 1 < buffer.length ? buffer.subarray(index + 1) : undefined;
    return parseStdioMessage(line);
  }

  clear(): void {
    this.buffer = undefined;
  }
}
