import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { FrameReader, type Frame } from '../../src/wire/protocol';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a Postgres command-line tool (psql, pgbench) without a shell; never rejects. */
export function runTool(command: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { env: { ...process.env, PGCONNECT_TIMEOUT: '20', ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The SQLSTATE and message a failed wire login or statement reports. */
export async function failure(work: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await work();
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    return { code: code ?? 'none', message };
  }
  throw new Error('expected a failure');
}

/** A connection URL of the wire front: any user, the token as password, the connector as database. */
export function wireUrl(port: number, configId: string, token: string, query = ''): string {
  return `postgres://agent:${encodeURIComponent(token)}@127.0.0.1:${port}/${configId}${query}`;
}

/** Sends a CancelRequest for a client's backend key (as node-postgres holds it) to the front, as libpq would. */
export function sendCancel(port: number, client: unknown): Promise<void> {
  const key = client as { processID: number; secretKey: number };
  return new Promise<void>((resolve, reject) => {
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(80877102, 4);
    packet.writeInt32BE(key.processID, 8);
    packet.writeInt32BE(key.secretKey, 12);
    const socket = connect(port, '127.0.0.1', () => socket.end(packet));
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

/**
 * Speaks the protocol itself on the socket of a connected, idle node-postgres client (which
 * reads it no more): writes `messages` in one write and resolves with the server's messages
 * up to the ReadyForQuery.
 */
export function rawExchange(client: unknown, messages: Buffer[]): Promise<Frame[]> {
  const socket = (client as { connection: { stream: Socket } }).connection.stream;
  socket.removeAllListeners('data');
  const reader = new FrameReader();
  const frames: Frame[] = [];
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let frame = reader.next(); frame; frame = reader.next()) {
        frames.push(frame);
        if (frame.type === 0x5a) resolve(frames);
      }
    });
    socket.write(Buffer.concat(messages));
  });
}
