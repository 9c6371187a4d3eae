import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ZodType, ZodTypeDef } from 'zod';
import type { Principal, Scope } from '../auth/scopes';
import type { ErrorRenderer } from '../errors/problem.filter';
import type { TraceContext } from '../http/trace-context';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Reads the caller's token from the request; the default is `Authorization: Bearer`. */
export type CredentialReader = (headers: IncomingHttpHeaders) => string | undefined;

/** A zod schema whose parsed output is `T` (its input may be anything). */
export type Schema<T> = ZodType<T, ZodTypeDef, unknown>;

/** How an operation finds its connector in the path and checks the token's allow-list. */
export interface ConnectorBinding {
  /** The path parameter holding the connector's configId (checked against CONFIG_ID_PATTERN). */
  param: string;
  /**
   * What a token whose `connectors` list excludes it gets: 403 (default; brokers) or 404
   * as for a connector that does not exist (the registry, whose reads must not reveal names).
   */
  outsideAllowList?: 'forbidden' | 'not-found';
}

/** What a handler sees of its request. */
export interface OperationContext<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  /** Who is calling. Public operations get {@link ANONYMOUS}. */
  readonly principal: Principal;
  readonly headers: IncomingHttpHeaders;
  readonly trace: TraceContext;
  /**
   * The JSON body's bytes as received (before parsing), when it had one: for a proxy that
   * forwards the body untouched instead of serializing the parsed value again.
   */
  readonly rawBody?: Buffer | undefined;
  /** The raw request: read it yourself when the operation declares `body: 'raw'`. */
  readonly request: IncomingMessage;
  /** The raw response: write it yourself when the operation `streams`, then return undefined. */
  readonly response: ServerResponse;
  /** Aborts (reason CANCELLED) when the client goes away before the answer is sent. */
  readonly signal: AbortSignal;
}

/** A handler's answer when it is not a plain 200 JSON body. */
export class Reply {
  constructor(
    readonly status: number,
    /** An object (serialized as JSON), a string already serialized as JSON, or undefined for no body. */
    readonly body: unknown,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

/** The declaration of one route: everything the kit needs to serve, check and document it. */
export interface OperationSpec<P = Record<string, string>, Q = Record<string, string>, B = unknown, R = unknown> {
  /** Unique in the service; the OpenAPI operationId, e.g. `db.query`. */
  id: string;
  /** `ANY` answers every method (a pass-through proxy). */
  method: HttpMethod | 'ANY';
  /** `/v1/databases/:configId/query`; a last segment `*name` matches the rest of the path. */
  path: string;
  summary: string;
  description?: string;
  tags?: readonly string[];
  /** The caller needs one of these scopes (admin holds all), or nothing at all (`public`). */
  scopes: readonly Scope[] | 'public';
  /** Where the token comes from, when not `Authorization: Bearer`. */
  credentials?: CredentialReader;
  connector?: ConnectorBinding;
  /** Path parameters (all strings before parsing). */
  params?: Schema<P>;
  query?: Schema<Q>;
  /** A JSON body checked by this schema, or `raw`: the handler reads `request` itself. */
  body?: Schema<B> | 'raw';
  /** The 2xx body, for the OpenAPI document. */
  response?: Schema<R>;
  /** The status of a plain answer (default 200). */
  status?: number;
  /** `sse` or `stream`: the handler writes the response itself (documented as such). */
  produces?: 'json' | 'sse' | 'stream';
  /** The protocol's error shape (OpenAI, Anthropic, JSON-RPC); problem+json when absent. */
  errors?: ErrorRenderer;
  /** Serializes a plain answer over HTTP (e.g. with a response size limit); JSON.stringify when absent. */
  serialize?(result: R): string;
  /** Largest JSON body accepted, in bytes (default: the service's body limit). */
  bodyLimit?: number;
  handle(context: OperationContext<P, Q, B>): Promise<R | Reply | string | undefined> | R | Reply | string | undefined;
}

/** An operation as the kit holds it (the type parameters erased). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Operation = OperationSpec<any, any, any, any>;

/** Declares an operation; the identity function, there for inference of the handler's types. */
export function defineOperation<P = Record<string, string>, Q = Record<string, string>, B = undefined, R = unknown>(
  spec: OperationSpec<P, Q, B, R>,
): OperationSpec<P, Q, B, R> {
  return spec;
}
