/**
 * Postgres protocol 3.0 framing and the few backend messages the wire front writes itself.
 * Everything else is relayed as bytes: the broker parses only what it must rewrite.
 */

/** Codes of the untyped first packets (length + code). */
export const PROTOCOL_V3 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

/** Longest message a client may send: Postgres' own limit for a query string is 1 GB; keep the broker's memory bounded. */
export const MAX_CLIENT_MESSAGE = 64 * 1024 * 1024;

/**
 * One typed message as received, in place: bytes `start..end` of the buffer it arrived in
 * (type, length, payload). Views of it are made only for the messages the broker reads;
 * relayed ones go out as ranges of the buffer (see Outbox).
 */
export class Frame {
  /** Message type byte (e.g. 0x51 'Q'). */
  readonly type: number;

  constructor(
    readonly bytes: Buffer,
    readonly start: number,
    readonly end: number,
  ) {
    this.type = bytes[start] as number;
  }

  /** Type + length + payload, for relaying unchanged. */
  get raw(): Buffer {
    return this.bytes.subarray(this.start, this.end);
  }

  /** The payload after type and length. */
  get body(): Buffer {
    return this.bytes.subarray(this.start + 5, this.end);
  }

  /** Byte `index` of the message (0 is its type; the payload starts at 5). */
  at(index: number): number {
    return this.bytes[this.start + index] as number;
  }
}

/** Reassembles typed messages from a byte stream. */
const EMPTY = Buffer.alloc(0);

export class FrameReader {
  private buffer: Buffer = EMPTY;
  /** Where the unread bytes of `buffer` start and end (a socket's read buffer holds more than one read). */
  private offset = 0;
  private limit = 0;

  /** Takes bytes `0..length` of `chunk` (all of it by default). */
  push(chunk: Buffer, length = chunk.length): void {
    if (this.offset >= this.limit) {
      this.buffer = chunk;
      this.limit = length;
    } else {
      this.buffer = Buffer.concat([this.buffer.subarray(this.offset, this.limit), chunk.subarray(0, length)]);
      this.limit = this.buffer.length;
    }
    this.offset = 0;
  }

  /** Drops unread bytes (the stream they belonged to ended for this reader). */
  clear(): void {
    this.buffer = EMPTY;
    this.offset = 0;
    this.limit = 0;
  }

  get buffered(): number {
    return this.limit - this.offset;
  }

  /** The untyped startup packet (length + payload), or undefined while incomplete. */
  nextUntyped(): Buffer | undefined {
    if (this.buffered < 4) return undefined;
    const length = this.buffer.readInt32BE(this.offset);
    if (length < 8 || length > 10_000) throw new Error(`invalid startup packet length ${length}`);
    if (this.buffered < length) return undefined;
    const packet = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return packet;
  }

  /**
   * The next complete message, or undefined while incomplete.
   * @throws Error on a length outside the protocol (the stream cannot be resynchronised).
   */
  next(maxLength = Number.MAX_SAFE_INTEGER): Frame | undefined {
    const at = this.nextStart(maxLength);
    return at < 0 ? undefined : new Frame(this.buffer, at, this.offset);
  }

  /**
   * {@link next} without an object: where the next complete message starts in {@link bytes}
   * (it ends at {@link position}), or -1 while incomplete.
   * @throws Error on a length outside the protocol.
   */
  nextStart(maxLength = Number.MAX_SAFE_INTEGER): number {
    const at = this.offset;
    if (this.limit - at < 5) return -1;
    const length = this.buffer.readInt32BE(at + 1);
    if (length < 4 || length > maxLength) throw new Error(`invalid message length ${length}`);
    const total = length + 1;
    if (this.limit - at < total) return -1;
    this.offset = at + total;
    return at;
  }

  /** The buffer the messages {@link nextStart} finds are in. */
  get bytes(): Buffer {
    return this.buffer;
  }

  /** Where the unread bytes start: the end of the message read last. */
  get position(): number {
    return this.offset;
  }
}

/** Reads the NUL-terminated string at `offset`, which must end before `limit`; returns it and the offset after the NUL. */
export function readCString(buffer: Buffer, offset: number, limit = buffer.length): [string, number] {
  const end = cstringEnd(buffer, offset, limit);
  return [buffer.toString('utf8', offset, end), end + 1];
}

/** Where the NUL ending the string at `offset` is; it must be before `limit`. */
export function cstringEnd(buffer: Buffer, offset: number, limit = buffer.length): number {
  const end = buffer.indexOf(0, offset);
  if (end === -1 || end >= limit) throw new Error('unterminated string in message');
  return end;
}

export function message(type: string, ...parts: Buffer[]): Buffer {
  const length = parts.reduce((sum, part) => sum + part.length, 4);
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeInt32BE(length, 1);
  return Buffer.concat([head, ...parts]);
}

export function cstring(value: string): Buffer {
  return Buffer.from(`${value}\0`, 'utf8');
}

export function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value, 0);
  return buffer;
}

export const AUTH_OK = message('R', int32(0));
export const AUTH_CLEARTEXT = message('R', int32(3));
export const PARSE_COMPLETE = message('1');
export const CLOSE_COMPLETE = message('3');

export function parameterStatus(name: string, value: string): Buffer {
  return message('S', cstring(name), cstring(value));
}

export function backendKeyData(pid: number, secret: number): Buffer {
  return message('K', int32(pid), int32(secret));
}

export type TransactionStatus = 'I' | 'T' | 'E';

export function readyForQuery(status: TransactionStatus): Buffer {
  return message('Z', Buffer.from(status, 'latin1'));
}

export function commandComplete(tag: string): Buffer {
  return message('C', cstring(tag));
}

export interface WireError {
  severity: 'ERROR' | 'FATAL';
  /** SQLSTATE. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** An ErrorResponse written by the broker itself (not relayed from a server). */
export function errorResponse(error: WireError): Buffer {
  const fields: Buffer[] = [
    Buffer.from('S'),
    cstring(error.severity),
    Buffer.from('V'),
    cstring(error.severity),
    Buffer.from('C'),
    cstring(error.code),
    Buffer.from('M'),
    cstring(error.message),
  ];
  if (error.detail) fields.push(Buffer.from('D'), cstring(error.detail));
  if (error.hint) fields.push(Buffer.from('H'), cstring(error.hint));
  fields.push(Buffer.from([0]));
  return message('E', ...fields);
}

/** Fields of an ErrorResponse / NoticeResponse body by their one-letter code. */
export function errorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const code = String.fromCharCode(body[offset] as number);
    const [value, next] = readCString(body, offset + 1);
    fields.set(code, value);
    offset = next;
  }
  return fields;
}

/** A simple Query message. */
export function query(text: string): Buffer {
  return message('Q', cstring(text));
}

/** Frontend Close of a prepared statement. */
export function closeStatement(name: string): Buffer {
  return message('C', Buffer.from('S'), cstring(name));
}

/** SSLRequest: asks a server to switch the connection to TLS (it answers `S` or `N`). */
export function sslRequest(): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeInt32BE(8, 0);
  buffer.writeInt32BE(SSL_REQUEST, 4);
  return buffer;
}

/** CancelRequest to a server for its backend key. */
export function cancelRequest(pid: number, secret: number): Buffer {
  const buffer = Buffer.alloc(16);
  buffer.writeInt32BE(16, 0);
  buffer.writeInt32BE(CANCEL_REQUEST, 4);
  buffer.writeInt32BE(pid, 8);
  buffer.writeInt32BE(secret, 12);
  return buffer;
}
