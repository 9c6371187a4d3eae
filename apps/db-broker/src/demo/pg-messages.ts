/**
 * The few PostgreSQL wire messages the embedded demo database's front writes or reads
 * itself (the rest passes through to PGlite untouched).
 */

export type TransactionStatus = 'I' | 'T' | 'E';

/** A message frame: one type byte, then an int32 length that counts itself. */
export function frame(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

export function readyForQuery(status: TransactionStatus): Buffer {
  return frame('Z', Buffer.from(status, 'latin1'));
}

export function backendKeyData(processId: number, secretKey: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeInt32BE(processId, 0);
  body.writeInt32BE(secretKey, 4);
  return frame('K', body);
}

/** An ErrorResponse with severity, SQLSTATE, message and an optional hint. */
export function errorResponse(severity: 'ERROR' | 'FATAL', sqlstate: string, message: string, hint?: string): Buffer {
  const fields: [string, string][] = [
    ['S', severity],
    ['V', severity],
    ['C', sqlstate],
    ['M', message],
    ...(hint ? ([['H', hint]] as [string, string][]) : []),
  ];
  const parts = fields.map(([code, value]) => Buffer.concat([Buffer.from(code, 'latin1'), Buffer.from(value, 'utf8'), Buffer.from([0])]));
  return frame('E', Buffer.concat([...parts, Buffer.from([0])]));
}

/** Splits complete typed messages off `buffer`; `rest` is an incomplete tail. */
export function splitMessages(buffer: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let at = 0;
  while (buffer.length - at >= 5) {
    const length = buffer.readInt32BE(at + 1);
    if (buffer.length - at < length + 1) break;
    messages.push(buffer.subarray(at, at + length + 1));
    at += length + 1;
  }
  return { messages, rest: buffer.subarray(at) };
}

/** The status of the last ReadyForQuery in a backend's output, if it has one. */
export function lastTransactionStatus(output: Uint8Array): TransactionStatus | undefined {
  let at = 0;
  let status: TransactionStatus | undefined;
  const view = Buffer.from(output.buffer, output.byteOffset, output.byteLength);
  while (view.length - at >= 5) {
    const type = view[at];
    const length = view.readInt32BE(at + 1);
    if (type === 0x5a && length === 5 && view.length - at >= 6) {
      const byte = String.fromCharCode(view[at + 5] ?? 0);
      if (byte === 'I' || byte === 'T' || byte === 'E') status = byte;
    }
    at += length + 1;
  }
  return status;
}

/** The messages of a startup reply, minus BackendKeyData and ReadyForQuery (the front writes its own). */
export function startupParameters(reply: Uint8Array): Buffer[] {
  const view = Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
  const { messages } = splitMessages(view);
  return messages.filter((message) => message[0] === 0x53); // 'S' ParameterStatus
}

/** The key/value pairs of a StartupMessage body (after length and protocol version). */
export function startupOptions(packet: Buffer): Map<string, string> {
  const parts = packet.subarray(8).toString('utf8').split('\0');
  const options = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const key = parts[i];
    const value = parts[i + 1];
    if (key && value !== undefined) options.set(key, value);
  }
  return options;
}

const UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** A `statement_timeout` value as Postgres reads it (`500`, `5s`, `2min`), in ms; `undefined` if unreadable. */
export function timeoutSettingMs(value: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!match) return undefined;
  const unit = UNITS[(match[2] ?? '').toLowerCase() || 'ms'];
  return unit === undefined ? undefined : Math.floor(Number(match[1]) * unit);
}
