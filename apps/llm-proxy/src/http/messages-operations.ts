import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, isPatchbayError } from '@patchbay/core';
import { Reply, Scope, bearerToken, defineOperation, type Operation } from '@patchbay/nest';
import { z } from 'zod';
import { chatCodec, messagesCodec } from '../apis/client-codec';
import { anthropicErrorRenderer } from '../apis/messages/anthropic-errors';
import { estimateInputTokens } from '../apis/messages/count-tokens';
import { messagesRequestToChat } from '../apis/messages/request-to-chat';
import { upstreamApiFor } from '../apis/wire-api';
import type { Pivot } from '../proxy/proxy-engine';
import { proxy, type ProxyOperationsDeps } from './proxy-operations';

/** Anthropic's clients send their key as `x-api-key`; Bearer works too (`authToken`, gateways). */
function anthropicCredentials(headers: IncomingHttpHeaders): string | undefined {
  const key = headers['x-api-key'];
  const value = Array.isArray(key) ? key[0] : key;
  return value && value.length > 0 ? value : bearerToken(headers.authorization);
}

/** The Anthropic headers an Anthropic upstream receives as the client sent them. */
function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['anthropic-version', 'anthropic-beta']) {
    const value = headers[name];
    if (typeof value === 'string') out[name] = value;
    else if (Array.isArray(value)) out[name] = value.join(',');
  }
  return out;
}

const model = z.string().min(1, 'must be a non-empty string').describe('A model a connector serves, or `<configId>/<model>` to pin one connector');
const messages = z.array(z.object({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(z.record(z.unknown()))]) }).passthrough());
const system = z.union([z.string(), z.array(z.record(z.unknown()))]).optional();
const tools = z.array(z.record(z.unknown())).optional();

const messageBody = z
  .object({
    model,
    max_tokens: z.number().int().min(1).describe('Required by the Messages API'),
    messages: messages.describe('The conversation: text, image, tool_use and tool_result blocks'),
    system,
    tools,
    stream: z.boolean().nullish().describe('Answer as Anthropic’s event stream'),
  })
  .passthrough();
type MessageBody = z.infer<typeof messageBody>;

/** Failures of the connectors themselves, after which count_tokens answers with the proxy's own estimate. */
const UNREACHABLE: ReadonlySet<string> = new Set([ErrorCode.UPSTREAM_UNAVAILABLE, ErrorCode.UPSTREAM_ERROR, ErrorCode.CIRCUIT_OPEN, ErrorCode.TIMEOUT]);

const countBody = z.object({ model, messages, system, tools }).passthrough();
type CountBody = z.infer<typeof countBody>;

/**
 * `POST /v1/messages` and `/v1/messages/count_tokens` (Anthropic): passed through to
 * `provider: 'anthropic'` connectors (their key as x-api-key, the client's
 * anthropic-version/-beta forwarded), translated to Chat Completions for the others.
 * Errors in Anthropic's shape.
 */
export function messagesOperations(deps: ProxyOperationsDeps): Operation[] {
  const common = {
    method: 'POST',
    tags: ['anthropic'],
    scopes: [Scope.USE],
    credentials: anthropicCredentials,
    errors: anthropicErrorRenderer,
    bodyLimit: deps.bodyLimitBytes,
  } as const;
  const create = defineOperation({
    ...common,
    id: 'anthropic.messages.create',
    path: '/v1/messages',
    summary: 'Create a message (Anthropic Messages API)',
    description:
      'Token as `x-api-key` or `Authorization: Bearer`. Routed like chat completions; Anthropic connectors get the request as sent, OpenAI-compatible ones a translation to Chat Completions (system, text and image blocks, tools, tool_use/tool_result), the answer and the event stream translated back.',
    body: messageBody,
    produces: 'sse',
    handle: proxy<MessageBody>(deps, {
      api: 'messages',
      route: '/v1/messages',
      prepare: ({ body, headers }) => {
        let pivot: Pivot;
        try {
          pivot = { chat: messagesRequestToChat(body) };
        } catch (error) {
          if (!isPatchbayError(error)) throw error;
          pivot = { error };
        }
        return { codec: messagesCodec(body.model), pivot, forwardHeaders: forwardedHeaders(headers) };
      },
    }),
  });
  const countNatively = proxy<CountBody & { stream?: undefined }>(deps, {
    api: 'count_tokens',
    route: '/v1/messages/count_tokens',
    prepare: ({ body, headers }) => ({ codec: chatCodec(body.model, false, 'count_tokens'), forwardHeaders: forwardedHeaders(headers) }),
  });
  const count = defineOperation({
    ...common,
    id: 'anthropic.messages.countTokens',
    path: '/v1/messages/count_tokens',
    summary: 'Count the input tokens of a message request (Anthropic)',
    description:
      'Asked of an Anthropic connector serving the model when there is one (and it answers); otherwise counted by the proxy with a BPE tokenizer, marked `x-patchbay-token-count: estimated` (Claude’s tokenizer is not public).',
    body: countBody,
    response: z.object({ input_tokens: z.number().int() }),
    handle: async (context) => {
      const routed = deps.engine.routeFor(context.body.model, context.principal);
      const estimate = (): Reply => new Reply(200, { input_tokens: estimateInputTokens(context.body) }, { 'x-patchbay-token-count': 'estimated' });
      if (!routed.candidates.some((u) => upstreamApiFor('count_tokens', u.options.apis) !== undefined)) return estimate();
      try {
        return await countNatively(context);
      } catch (error) {
        // A count is advice (Claude Code's context meter): an estimate beats an error while the connectors are down.
        if (context.response.headersSent || !isPatchbayError(error) || !UNREACHABLE.has(error.code)) throw error;
        return estimate();
      }
    },
  });
  return [create, count];
}
