import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import { traceStorage } from '../http/trace-context';

/**
 * Paths pino removes from every log line. Request logs never include headers or bodies
 * in the first place; this is the second belt for anything passed as a log field.
 */
export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'password',
  '*.password',
  'apiKey',
  '*.apiKey',
  'api_key',
  'token',
  '*.token',
  'credentials',
  '*.credentials',
  'secret',
  '*.secret',
  'connectionString',
  '*.connectionString',
];

/** Removes the password of a URL (e.g. postgres://user:pw@host) so it can be logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@/]+@/, '//$1:***@');
  }
}

/** How often buffered log lines are written out at the latest. */
const LOG_FLUSH_MS = 100;

/**
 * stdout written in batches (4 KiB or every 100 ms) instead of one write per line: with a
 * log line per request, that syscall was the largest per-request cost on the brokers' hot
 * paths. The batches are written synchronously (pino's own default): an asynchronous
 * write goes through libuv's thread pool, and that hand-off cost more CPU than the write.
 * Flushed at exit, so nothing is lost on shutdown.
 */
function bufferedStdout(): pino.DestinationStream {
  const stdout = pino.destination({ dest: 1, sync: true, minLength: 4096 });
  setInterval(() => stdout.flush(), LOG_FLUSH_MS).unref();
  process.once('exit', () => {
    try {
      stdout.flushSync();
    } catch {
      // stdout already closed
    }
  });
  return stdout;
}

/** Creates the JSON logger of a service (buffered stdout unless a destination is given). */
export function createLogger(service: string, level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service, pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Lines logged while handling a request carry its trace id.
      mixin: () => {
        const context = traceStorage.getStore();
        return context ? { traceId: context.traceId } : {};
      },
    },
    destination ?? bufferedStdout(),
  );
}

/** The fields of the one line per request (see {@link accessLineWriter}). */
export interface AccessLine {
  traceId?: string | undefined;
  method: string;
  /** The route pattern (also the HTTP metric's label), e.g. `/v1/x/:id`. */
  route: string;
  /** The path asked for, without the query string. */
  path: string;
  status: number;
  /** Time from the request's arrival to the end of the answer, in ms (rounded to 0.01 in the line). */
  ms: number;
  principal?: string | undefined;
  /** Service fields (model, connector, ...); never secrets. */
  extra?: Record<string, unknown> | undefined;
}

const INFO_LEVEL = 30;

/**
 * Writes the one line per request straight to `logger`'s destination, byte for byte as
 * pino would write `logger.info({traceId, method, route, path, status, ms, principal,
 * ...extra}, 'request')` for a logger made by {@link createLogger}: same level label,
 * time, bindings and field order. The fields are built by the kit, never secrets, so
 * pino's path redaction and generic serializer (most of a line's cost, on every request
 * of the brokers' hot paths) are skipped; the ISO time is made once per millisecond.
 * Every other line goes through pino as usual.
 */
export function accessLineWriter(logger: Logger): (line: AccessLine) => void {
  const internals = logger as unknown as Record<symbol, unknown>;
  const stream = internals[pino.symbols.streamSym] as pino.DestinationStream;
  const bindings = internals[pino.symbols.chindingsSym] as string;
  let lastMs = Number.NaN;
  let lastTime = '';
  return (line) => {
    if (logger.levelVal > INFO_LEVEL) return;
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastTime = new Date(now).toISOString();
    }
    let text = `{"level":"info","time":"${lastTime}"${bindings}`;
    if (line.traceId !== undefined) text += `,"traceId":${JSON.stringify(line.traceId)}`;
    text +=
      `,"method":${JSON.stringify(line.method)},"route":${JSON.stringify(line.route)},"path":${JSON.stringify(line.path)}` +
      `,"status":${line.status},"ms":${Math.round(line.ms * 100) / 100}`;
    if (line.principal !== undefined) text += `,"principal":${JSON.stringify(line.principal)}`;
    if (line.extra) {
      for (const key of Object.keys(line.extra)) {
        const value = line.extra[key];
        if (value !== undefined) text += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
      }
    }
    stream.write(`${text},"msg":"request"}\n`);
  };
}

/** Routes NestJS's own log calls into pino. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    // Nest's bootstrap chatter (route mapping, module init) is debug noise in production.
    this.logger.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}
