import type { Readable } from 'node:stream';
import type { Deadline, PatchbayError } from '@patchbay/core';
import type { Principal } from '@patchbay/nest';
import type { WireApi } from '../apis/wire-api';
import type { Upstream } from '../upstreams/upstream';
import type { RequestBody } from './json-body';
import type { Usage } from './usage';

/**
 * The request in Chat Completions form (the translation pivot), for connectors that do not
 * serve the client's API natively; or why it cannot be translated (those connectors are
 * skipped, and the reason is the answer when no connector is left).
 */
export type Pivot = { chat: Record<string, unknown> } | { error: PatchbayError };

/** One client request, as the HTTP and gRPC edges hand it over. */
export interface ProxyCall {
  /** Route label for metrics, e.g. `/v1/chat/completions`. */
  route: string;
  /** The API the client called. */
  api: WireApi;
  body: RequestBody;
  /** Required for `responses` and `messages` calls; a `chat` call is its own pivot. */
  pivot?: Pivot;
  /** Client headers an upstream speaking the same API receives (`anthropic-version`, `anthropic-beta`). */
  forwardHeaders?: Record<string, string>;
  principal: Principal;
  /** Aborts when the client goes away (give this or `controller`). */
  signal?: AbortSignal;
  /**
   * A controller the edge owns and aborts when the client goes away: the engine's
   * deadline then aborts it directly instead of linking a second controller to a
   * signal. A {@link RequestController} also spares the AbortSignal on the way upstream.
   */
  controller?: AbortController;
  /** A shorter deadline the client asked for (ms). */
  timeoutMs?: number;
  traceparent?: string;
  /** `performance.now()` when the request arrived. */
  receivedAt: number;
  /** Set by the engine: `performance.now()` when the first upstream request was dispatched. */
  firstDispatchAt?: number;
}

interface AnswerBase {
  upstream: Upstream;
  /** The API the upstream answered in (the client's, or the one translated through). */
  api: WireApi;
  attempts: number;
  status: number;
  /** Upstream headers safe to pass on. */
  headers: Record<string, string>;
  /** `performance.now()` when the upstream's answer (or first stream chunk) was in. */
  answeredAt: number;
}

/** A complete JSON answer: a success, or an upstream 4xx returned verbatim. */
export interface JsonAnswer extends AnswerBase {
  kind: 'json';
  body: Buffer;
  /** Undefined too for an answer the client gets translated: {@link translateJson} reads it from the body it parses anyway. */
  usage: Usage | undefined;
}

/** A committed stream: the first bytes arrived; the rest is relayed by `ProxyEngine.relay`. */
export interface StreamAnswer extends AnswerBase {
  kind: 'stream';
  /** The API the client called: when it is the upstream's, the upstream's events reach the client as they came. */
  clientApi: WireApi;
  first: Buffer;
  body: Readable;
  stripUsage: boolean;
  deadline: Deadline;
  controller: AbortController;
}

export type Answer = JsonAnswer | StreamAnswer;

/** Where a relayed stream goes (an HTTP response, a gRPC stream). */
export interface StreamSink {
  /** Returns false when the consumer wants the producer to pause until `onDrain`. */
  write(bytes: Buffer): boolean;
  onDrain(resume: () => void): void;
  end(): void;
  /** The stream broke after it started: say so in-band and end without `[DONE]`. */
  fail(error: PatchbayError): void;
}
