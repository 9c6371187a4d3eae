import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync } from 'node:crypto';
import { trace } from '@opentelemetry/api';

/** W3C trace context of one request. */
export interface TraceContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ALL_ZEROS = /^0+$/;

/** Parses a W3C `traceparent` header; undefined when absent or malformed. */
export function parseTraceparent(header: string | string[] | undefined): TraceContext | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value ? TRACEPARENT.exec(value.trim().toLowerCase()) : null;
  if (!match?.[1] || !match[2] || !match[3] || ALL_ZEROS.test(match[1]) || ALL_ZEROS.test(match[2])) return undefined;
  return { traceId: match[1], spanId: match[2], sampled: (parseInt(match[3], 16) & 1) === 1 };
}

/**
 * The context for work done on behalf of a request: the active OpenTelemetry span when
 * tracing is on, else a child of the caller's `traceparent`, else a new trace.
 */
export function traceContextFor(incoming: string | string[] | undefined): TraceContext {
  const active = trace.getActiveSpan()?.spanContext();
  if (active && trace.isSpanContextValid(active)) {
    return { traceId: active.traceId, spanId: active.spanId, sampled: (active.traceFlags & 1) === 1 };
  }
  const parent = parseTraceparent(incoming);
  if (parent) return { traceId: parent.traceId, spanId: randomHex(8), sampled: parent.sampled };
  return { traceId: randomHex(16), spanId: randomHex(8), sampled: false };
}

/** Random bytes drawn from the CSPRNG in blocks, so an id costs one hex encode, not a syscall. */
const entropy = Buffer.alloc(4096);
let entropyOffset = entropy.length;

/** `bytes` random bytes as lowercase hex, never all zeros (an invalid W3C id). */
export function randomHex(bytes: number): string {
  for (;;) {
    if (entropyOffset + bytes > entropy.length) {
      randomFillSync(entropy);
      entropyOffset = 0;
    }
    const start = entropyOffset;
    entropyOffset += bytes;
    const hex = entropy.toString('hex', start, start + bytes);
    if (!ALL_ZEROS.test(hex)) return hex;
  }
}

/** Formats a context as a `traceparent` header value. */
export function formatTraceparent(context: TraceContext): string {
  return `00-${context.traceId}-${context.spanId}-${context.sampled ? '01' : '00'}`;
}

/** The trace context of the request being handled (entered by the kit's Fastify hooks). */
export const traceStorage = new AsyncLocalStorage<TraceContext>();

let ambient = true;

/**
 * Whether request handlers run inside their trace context (AsyncLocalStorage), so log
 * lines and bus envelopes made anywhere during a request carry its trace. On Node 20
 * that costs a hook on every promise of the process, 5 to 10 % of a broker's CPU per
 * request; a service that carries the trace explicitly on its hot paths may turn it off.
 * OpenTelemetry tracing, when on, keeps its own context either way.
 */
export function setAmbientTraceContext(enabled: boolean): void {
  ambient = enabled;
}

/** Runs `work` inside `context` when ambient trace context is on, else just runs it. */
export function runInTraceContext<T>(context: TraceContext, work: () => T): T {
  return ambient ? traceStorage.run(context, work) : work();
}

/**
 * The `traceparent` to send on outgoing calls and to put in bus envelopes: the active
 * OpenTelemetry span when tracing is on, else the current request's context.
 */
export function currentTraceparent(): string | undefined {
  const active = trace.getActiveSpan()?.spanContext();
  if (active && trace.isSpanContextValid(active)) {
    return formatTraceparent({ traceId: active.traceId, spanId: active.spanId, sampled: (active.traceFlags & 1) === 1 });
  }
  const context = traceStorage.getStore();
  return context ? formatTraceparent(context) : undefined;
}
