import { ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';
import { Scope, defineOperation, Reply, type Operation, type Principal } from '@patchbay/nest';
import { z } from 'zod';
import { responsesCodec } from '../apis/client-codec';
import { inputItemsList } from '../apis/responses/input-items';
import { inputItems, responsesRequestToChat } from '../apis/responses/request-to-chat';
import { echoOf } from '../apis/responses/response-object';
import type { ResponseStore, StoredResponse } from '../apis/responses/response-store';
import { isObject, type Json } from '../apis/sse';
import { requestBodyOf } from '../proxy/json-body';
import type { Pivot } from '../proxy/proxy-engine';
import { openAiErrorRenderer } from './openai-errors';
import { proxy, type ProxyOperationsDeps } from './proxy-operations';

const responseBody = z
  .object({
    model: z.string().min(1, 'must be a non-empty string').describe('A model a connector serves, or `<configId>/<model>` to pin one connector'),
    stream: z.boolean().nullish().describe('Answer as the Responses event stream'),
    input: z
      .union([z.string(), z.array(z.record(z.unknown()))])
      .optional()
      .describe('A string, or input items: messages, function_call, function_call_output'),
    instructions: z.string().nullish().describe('A system message for this response only (not carried into the next)'),
    previous_response_id: z.string().min(1).nullish().describe('Continue the conversation of a response this proxy created'),
    store: z.boolean().nullish().describe('Keep the response for `previous_response_id` and GET (default true)'),
    tools: z.array(z.record(z.unknown())).nullish().describe('Function tools (others only to connectors serving Responses natively)'),
  })
  .passthrough();
type ResponseBody = z.infer<typeof responseBody>;

const idParams = z.object({ id: z.string().min(1).max(256) });

const inputItemsQuery = z.object({
  order: z.enum(['asc', 'desc']).default('desc').describe('`asc`: oldest item first; `desc` (default): newest first'),
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Items per page, 1 to 100 (default 20)'),
  after: z.string().min(1).optional().describe('An item id: list the items after it (in this order)'),
  before: z.string().min(1).optional().describe('An item id: list the items before it (in this order)'),
});

function notFound(id: string, param: string | null = null): PatchbayError {
  return new PatchbayError(ErrorCode.NOT_FOUND, param ? `Previous response with id '${id}' not found.` : `No response found with id '${id}'.`, {
    details: { param, code: param ? 'previous_response_not_found' : 'not_found' },
  });
}

/** A stored response if this token created it (others are told it does not exist). */
async function owned(store: ResponseStore, id: string, principal: Principal): Promise<StoredResponse | undefined> {
  let stored: StoredResponse | undefined;
  try {
    stored = await store.get(id);
  } catch (error) {
    throw new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'the response store is unreachable; retry shortly', { cause: error, retryAfterSeconds: 1 });
  }
  return stored && stored.owner === principal.name ? stored : undefined;
}

/** What comes before a continued response: its predecessor's input, then its output (reasoning stays with the model that made it). */
function conversationOf(stored: StoredResponse): Json[] {
  const output = Array.isArray(stored.response['output']) ? (stored.response['output'] as unknown[]) : [];
  return [...stored.input, ...output.filter((item): item is Json => isObject(item) && item['type'] !== 'reasoning').map(asInputItem)];
}

/** An output item as the input item that repeats it (status and ids are output-only). */
function asInputItem(item: Json): Json {
  if (item['type'] === 'message') return { type: 'message', role: 'assistant', content: item['content'] };
  if (item['type'] === 'function_call') return { type: 'function_call', call_id: item['call_id'], name: item['name'], arguments: item['arguments'] };
  return item;
}

/**
 * `POST /v1/responses` (translated to Chat Completions, or Anthropic's Messages, for
 * connectors that do not serve it; passed through to those that do), with the proxy's own
 * response store behind `previous_response_id`, `GET`/`DELETE /v1/responses/{id}` and
 * `GET /v1/responses/{id}/input_items`.
 */
export function responsesOperations(deps: ProxyOperationsDeps, store: ResponseStore, log: (error: unknown) => void): Operation[] {
  const common = { tags: ['openai'], scopes: [Scope.USE], errors: openAiErrorRenderer } as const;
  const create = defineOperation({
    ...common,
    id: 'openai.responses.create',
    method: 'POST',
    path: '/v1/responses',
    summary: 'Create a model response (OpenAI Responses API)',
    description:
      'Routed like chat completions (priority, weight, retries, breakers, failover, allow-lists). Connectors whose `apis` include `responses` get the request as sent; the others get it translated to Chat Completions (function tools, instructions, images) or Anthropic Messages, and the answer and its event stream translated back. The proxy keeps every response (unless `store: false`) for `previous_response_id`.',
    body: responseBody,
    bodyLimit: deps.bodyLimitBytes,
    produces: 'sse',
    handle: proxy<ResponseBody>(deps, {
      api: 'responses',
      route: '/v1/responses',
      prepare: async ({ body, rawBody, principal }) => {
        const previousId = body.previous_response_id ?? undefined;
        let history: Json[] = [];
        let forwarded = rawBody ?? Buffer.from(JSON.stringify(body));
        let json: ResponseBody = body;
        if (previousId) {
          const previous = await owned(store, previousId, principal);
          if (!previous) throw notFound(previousId, 'previous_response_id');
          history = conversationOf(previous);
          // The proxy holds the conversation: a native upstream gets it spelled out, not an id it never saw.
          const { previous_response_id: _dropped, ...rest } = body;
          json = { ...rest, input: [...history, ...inputItems(body.input)] };
          forwarded = Buffer.from(JSON.stringify(json));
        }
        let pivot: Pivot;
        try {
          pivot = { chat: responsesRequestToChat(body, history) };
        } catch (error) {
          if (!isPatchbayError(error)) throw error;
          pivot = { error };
        }
        const keep = body.store !== false;
        const input = keep ? [...history, ...inputItems(body.input)] : [];
        const codec = responsesCodec(
          echoOf(body, body.model),
          keep
            ? (response) => {
                const id = response['id'];
                if (typeof id === 'string') store.put(id, { owner: principal.name, response, input }).catch(log);
              }
            : undefined,
        );
        return { codec, pivot, body: requestBodyOf(json, forwarded) };
      },
    }),
  });
  const retrieve = defineOperation({
    ...common,
    id: 'openai.responses.retrieve',
    method: 'GET',
    path: '/v1/responses/:id',
    summary: 'A response this token created (kept for the response TTL)',
    params: idParams,
    handle: async ({ params, principal }) => {
      const stored = await owned(store, params.id, principal);
      if (!stored) throw notFound(params.id);
      return stored.response;
    },
  });
  const remove = defineOperation({
    ...common,
    id: 'openai.responses.delete',
    method: 'DELETE',
    path: '/v1/responses/:id',
    summary: 'Delete a response this token created',
    params: idParams,
    handle: async ({ params, principal }) => {
      if (!(await owned(store, params.id, principal))) throw notFound(params.id);
      await store.delete(params.id);
      return new Reply(200, { id: params.id, object: 'response', deleted: true });
    },
  });
  const listInputItems = defineOperation({
    ...common,
    id: 'openai.responses.inputItems.list',
    method: 'GET',
    path: '/v1/responses/:id/input_items',
    summary: 'The input items of a response this token created (the whole conversation it answered)',
    params: idParams,
    query: inputItemsQuery,
    handle: async ({ params, query, principal }) => {
      const stored = await owned(store, params.id, principal);
      if (!stored) throw notFound(params.id);
      return inputItemsList(params.id, stored.input, query);
    },
  });
  return [create, retrieve, listInputItems, remove];
}
