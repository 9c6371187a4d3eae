import { createHash } from 'node:crypto';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { isObject, type Json } from '../sse';

export interface InputItemsPage {
  order: 'asc' | 'desc';
  limit: number;
  after?: string | undefined;
  before?: string | undefined;
}

const ID_PREFIX: Record<string, string> = { message: 'msg', function_call: 'fc', function_call_output: 'fco' };

/**
 * An id for an item the client sent without one. Derived from the response and the item's
 * place, so the same listing gives the same ids every time and `after` / `before` work as cursors.
 */
function itemId(responseId: string, index: number, type: string): string {
  const digest = createHash('sha256').update(`${responseId}:${index}`).digest('hex').slice(0, 24);
  return `${ID_PREFIX[type] ?? 'item'}_${digest}`;
}

/** An input item as the API lists it: with an id and a status, a message's text as content parts. */
function listed(item: Json, responseId: string, index: number): Json {
  const type = typeof item['type'] === 'string' ? item['type'] : 'message';
  const id = typeof item['id'] === 'string' ? item['id'] : itemId(responseId, index, type);
  if (type !== 'message') return { ...item, id, type, status: item['status'] ?? 'completed' };
  const role = item['role'];
  const content = item['content'];
  const parts = typeof content === 'string' ? [{ type: role === 'assistant' ? 'output_text' : 'input_text', text: content }] : content;
  return { id, type, role, status: item['status'] ?? 'completed', content: parts };
}

function cursor(items: Json[], id: string, param: 'after' | 'before'): number {
  const at = items.findIndex((item) => item['id'] === id);
  if (at < 0)
    throw new PatchbayError(ErrorCode.VALIDATION, `${param}: no input item with id '${id}' in this response`, { details: { param, code: 'invalid_value' } });
  return at;
}

/**
 * `GET /v1/responses/{id}/input_items`: the conversation a stored response answered (its
 * predecessors' turns included, as the proxy sent them), one page of it in the API's list shape.
 */
export function inputItemsList(responseId: string, input: readonly unknown[], page: InputItemsPage): Json {
  const all = input.filter(isObject).map((item, i) => listed(item, responseId, i));
  let items = page.order === 'desc' ? all.reverse() : all;
  if (page.after !== undefined) items = items.slice(cursor(items, page.after, 'after') + 1);
  if (page.before !== undefined) items = items.slice(0, cursor(items, page.before, 'before'));
  const data = items.slice(0, page.limit);
  return {
    object: 'list',
    data,
    first_id: data[0]?.['id'] ?? null,
    last_id: data.at(-1)?.['id'] ?? null,
    has_more: items.length > data.length,
  };
}
