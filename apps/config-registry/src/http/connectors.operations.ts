import { CONFIG_ID_PATTERN } from '@patchbay/core';
import { Reply, Scope, defineOperation, hasScope, type Operation, type Principal } from '@patchbay/nest';
import { z } from 'zod';
import type { ConnectorService, PutOptions } from '../connectors/connector.service';
import { connectorBodySchema } from '../connectors/connector.schema';
import {
  connectorSchema,
  deleteResultSchema,
  historyPageSchema,
  historyQuerySchema,
  ifMatchRevision,
  listQuerySchema,
  listSchema,
  putResultSchema,
  resolvedSchema,
  rollbackBodySchema,
  rollbackResultSchema,
} from './schemas';

const configIdParams = z.object({ configId: z.string().regex(CONFIG_ID_PATTERN) });
const tags = ['connectors'];
// Reads outside a token's allow-list look like a missing connector; writes there are refused.
const read = { param: 'configId', outsideAllowList: 'not-found' } as const;
const write = { param: 'configId', outsideAllowList: 'forbidden' } as const;

function writeOptions(principal: Principal, ifMatch: string | string[] | undefined): PutOptions {
  const expectedRevision = ifMatchRevision(Array.isArray(ifMatch) ? ifMatch[0] : ifMatch);
  return expectedRevision === undefined ? { caller: principal } : { caller: principal, expectedRevision };
}

/** `/v1/connectors`: the registry's connector routes, each declared once. */
export function connectorOperations(connectors: ConnectorService): Operation[] {
  return [
    defineOperation({
      id: 'connectors.list',
      method: 'GET',
      path: '/v1/connectors',
      summary: 'List connectors (no secret values); `head` is the newest revision included',
      tags,
      scopes: [Scope.READ, Scope.RESOLVE],
      query: listQuerySchema,
      response: listSchema,
      handle: async ({ query, principal }) => {
        // Head first: anything committed after it is replayed by `/v1/changes?since=head`.
        const head = await connectors.headRevision();
        const items = await connectors.list(query.type ? { type: query.type } : {}, principal);
        return { items, head };
      },
    }),
    defineOperation({
      id: 'connectors.get',
      method: 'GET',
      path: '/v1/connectors/:configId',
      summary: 'Read one connector (credentials are write-only: only `credentialsSet` is shown)',
      tags,
      scopes: [Scope.READ, Scope.RESOLVE],
      connector: read,
      params: configIdParams,
      response: connectorSchema,
      handle: async ({ params, principal }) => {
        const connector = await connectors.get(params.configId, principal);
        return new Reply(200, connector, { etag: `"${connector.revision}"` });
      },
    }),
    defineOperation({
      id: 'connectors.put',
      method: 'PUT',
      path: '/v1/connectors/:configId',
      summary: 'Create or replace a connector; `If-Match: "<revision>"` for optimistic concurrency',
      tags,
      scopes: [Scope.ADMIN],
      connector: write,
      params: configIdParams,
      body: connectorBodySchema,
      response: putResultSchema,
      handle: async ({ params, body, principal, headers }) => {
        const result = await connectors.put(params.configId, body, principal.name, writeOptions(principal, headers['if-match']));
        return new Reply(result.created ? 201 : 200, result, { etag: `"${result.connector.revision}"` });
      },
    }),
    defineOperation({
      id: 'connectors.delete',
      method: 'DELETE',
      path: '/v1/connectors/:configId',
      summary: 'Delete a connector (a delete revision is recorded; rollback restores it)',
      tags,
      scopes: [Scope.ADMIN],
      connector: write,
      params: configIdParams,
      response: deleteResultSchema,
      handle: ({ params, principal, headers }) => connectors.delete(params.configId, principal.name, writeOptions(principal, headers['if-match'])),
    }),
    defineOperation({
      id: 'connectors.resolve',
      method: 'GET',
      path: '/v1/connectors/:configId/resolve',
      summary: 'Resolve url(s) and headers; credentials only for tokens with the `resolve` scope',
      description: 'What every broker and agent calls: the hot path of the registry.',
      tags,
      scopes: [Scope.READ, Scope.RESOLVE],
      connector: read,
      params: configIdParams,
      response: resolvedSchema,
      handle: ({ params, principal }) => connectors.resolve(params.configId, { includeSecrets: hasScope(principal, Scope.RESOLVE), caller: principal }),
    }),
    defineOperation({
      id: 'connectors.history',
      method: 'GET',
      path: '/v1/connectors/:configId/history',
      summary: 'Revisions of a connector, newest first, with who changed what (never secret values)',
      tags,
      scopes: [Scope.READ],
      connector: read,
      params: configIdParams,
      query: historyQuerySchema,
      response: historyPageSchema,
      handle: ({ params, query, principal }) => {
        const options: { limit?: number; before?: number; caller: typeof principal } = { caller: principal };
        if (query.limit !== undefined) options.limit = query.limit;
        if (query.before !== undefined) options.before = query.before;
        return connectors.history(params.configId, options);
      },
    }),
    defineOperation({
      id: 'connectors.rollback',
      method: 'POST',
      path: '/v1/connectors/:configId/rollback',
      summary: 'Write a new revision copying an earlier one (body: {"revision": N})',
      tags,
      scopes: [Scope.ADMIN],
      connector: write,
      params: configIdParams,
      body: rollbackBodySchema,
      response: rollbackResultSchema,
      handle: ({ params, body, principal }) => connectors.rollback(params.configId, (body.revision ?? body.toRevision) as number, principal.name, principal),
    }),
  ];
}
