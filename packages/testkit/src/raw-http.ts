import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  body: unknown;
}

export interface RawExchange {
  socket: Socket;
  /** Writes more of the request (e.g. the rest of a body held back). */
  write(text: string): void;
  /** The first response on the socket: complete once its body (by content-length) or the socket ended. */
  response: Promise<RawResponse>;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
  /** Resolves once the initial bytes were handed to the kernel. */
  sent: Promise<void>;
}

function parse(buffer: string): RawResponse | undefined {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = buffer.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = buffer.slice(end + 4);
  const length = headers['content-length'];
  if (length === undefined || Buffer.byteLength(rest) < Number(length)) return undefined;
  const text = rest.slice(0, Number(length));
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, text, body };
}

/**
 * Sends `head` (and whatever part of a body is appended to it) on a plain TCP socket, for
 * what fetch cannot do: a body that stalls, a declared length never sent, exact bytes.
 * The response is parsed as soon as it is complete, even while the request is not.
 */
export function rawHttp(port: number, request: string, host = '127.0.0.1'): RawExchange {
  const socket = connect(port, host);
  let buffer = '';
  const response = new Promise<RawResponse>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const parsed = parse(buffer);
      if (parsed) resolve(parsed);
    });
    socket.once('close', () => reject(new Error(`connection closed without a complete response: ${JSON.stringify(buffer.slice(0, 300))}`)));
    socket.once('error', () => undefined);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const sent = new Promise<void>((resolve) => socket.write(request, () => resolve()));
  return { socket, write: (text) => void (socket.destroyed || socket.write(text)), response, closed, sent };
}
