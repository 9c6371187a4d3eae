import { performance } from 'node:perf_hooks';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { Scope, type GrpcBinder, type Operation, type Principal } from '@patchbay/nest';
import { LLM_SERVICE, loadService } from '@patchbay/proto';
import { parseRequestBody, type RequestBody } from '../proxy/json-body';
import { chatCodec, translateJson, translatingSink, type TextOut } from '../apis/client-codec';
import type { JsonAnswer, ProxyEngine, StreamSink } from '../proxy/proxy-engine';
import { modelList } from '../http/openai-schemas';

interface ChatRequest {
  bodyJson: string;
  timeoutMs: number;
}

const VERBATIM_CODES: Record<number, ErrorCode> = {
  400: ErrorCode.VALIDATION,
  404: ErrorCode.NOT_FOUND,
  409: ErrorCode.CONFLICT,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  422: ErrorCode.UNPROCESSABLE,
};

/** The RPC decides streaming, so `stream` is set here (not a hot path: re-serialising is fine). */
function bodyFor(text: string, stream: boolean): RequestBody {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PatchbayError(ErrorCode.VALIDATION, 'body_json is not valid JSON', { details: { param: 'body_json' } });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new PatchbayError(ErrorCode.VALIDATION, 'body_json must be a JSON object');
  const fields: Record<string, unknown> = { ...(json as Record<string, unknown>), stream };
  if (!stream) delete fields['stream_options'];
  return parseRequestBody(Buffer.from(JSON.stringify(fields)));
}

/** An upstream 4xx passed back as a gRPC error with the upstream's own message. */
function verbatimError(answer: JsonAnswer): PatchbayError {
  let message = `upstream answered ${answer.status}`;
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    // keep the generic message
  }
  return new PatchbayError(VERBATIM_CODES[answer.status] ?? ErrorCode.VALIDATION, message, { details: { connector: answer.upstream.configId } });
}

/** `data:` payloads of the whole SSE events in `bytes`. */
function eventData(bytes: Buffer): string[] {
  const out: string[] = [];
  for (const event of bytes.toString('utf8').split(/\r?\n\r?\n/)) {
    let data = '';
    for (const line of event.split(/\r?\n/)) if (line.startsWith('data:')) data += line.slice(line.charCodeAt(5) === 0x20 ? 6 : 5);
    if (data && data.trim() !== '[DONE]') out.push(data);
  }
  return out;
}

/**
 * Registers `patchbay.llm.v1.LlmProxy`: ListModels is bound to the `GET /v1/models`
 * operation; the chat methods run the same engine as REST with the same tokens and scopes
 * (a unary gRPC answer carries the connector and attempts an operation's result has not,
 * and a server stream is no operation).
 */
export function registerLlmGrpc(binder: GrpcBinder, engine: ProxyEngine, listModels: Operation): void {
  const server = binder.server;
  const { definition } = loadService('llm', LLM_SERVICE);
  const call = (request: ChatRequest, principal: Principal, signal: AbortSignal, stream: boolean) => ({
    route: stream ? 'grpc:StreamChatCompletion' : 'grpc:CreateChatCompletion',
    api: 'chat' as const,
    body: bodyFor(request.bodyJson, stream),
    principal,
    signal,
    ...(request.timeoutMs > 0 ? { timeoutMs: request.timeoutMs } : {}),
    receivedAt: performance.now(),
  });
  server.addService(definition, {
    CreateChatCompletion: server.unary<ChatRequest, unknown>([Scope.USE], async (request, { principal, signal }) => {
      const proxied = call(request, principal, signal, false);
      const answer = await engine.execute(proxied);
      if (answer.kind !== 'json') throw new PatchbayError(ErrorCode.INTERNAL, 'unexpected stream');
      if (answer.status >= 400) throw verbatimError(answer);
      // An anthropic connector's message comes back as a chat completion, as over HTTP.
      const { body } = translateJson(answer, chatCodec(proxied.body.model, false));
      return { bodyJson: typeof body === 'string' ? body : body.toString('utf8'), connector: answer.upstream.configId, attempts: answer.attempts };
    }),
    StreamChatCompletion: server.serverStream<ChatRequest, unknown>([Scope.USE], async (request, write, { principal, signal }) => {
      const proxied = call(request, principal, signal, true);
      const answer = await engine.execute(proxied);
      if (answer.kind === 'json') throw answer.status >= 400 ? verbatimError(answer) : new PatchbayError(ErrorCode.UPSTREAM_ERROR, 'upstream did not stream');
      let first = true;
      let failure: PatchbayError | undefined;
      const forward = (bytes: Buffer): boolean => {
        for (const dataJson of eventData(bytes)) {
          write(first ? { dataJson, connector: answer.upstream.configId, attempts: answer.attempts } : { dataJson });
          first = false;
        }
        return true;
      };
      const fail = (error: PatchbayError): void => {
        failure = error.code === ErrorCode.UPSTREAM_ERROR ? new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, error.message) : error;
      };
      const sink: StreamSink = { write: forward, onDrain: () => undefined, end: () => undefined, fail };
      const out: TextOut = {
        write: (text) => forward(Buffer.from(text)),
        onDrain: () => undefined,
        end: (last) => void (last ? forward(Buffer.from(last)) : undefined),
        closed: false,
      };
      await engine.relay(answer, answer.api === 'chat' ? sink : { ...translatingSink(out, answer.api, chatCodec(proxied.body.model, false)), fail });
      if (failure) throw failure;
    }),
    ListModels: binder.operation<Record<string, never>, unknown>(listModels, {
      input: () => ({}),
      output: (result) => ({ models: modelList.parse(result).data.map((m) => ({ id: m.id, ownedBy: m.owned_by })) }),
    }),
  });
}
