import { CONFIG_ID_PATTERN } from '@patchbay/core';
import { Scope, defineOperation, statusOperations, type Operation } from '@patchbay/nest';
import { z } from 'zod';
import type { BrokerSettings } from '../config/broker-settings';
import type { DatabaseBroker } from '../pools/database-driver';
import { serializeBody } from '../query/execute';
import type { QueryService } from '../query/query.service';
import type { SessionService } from '../sessions/session.service';
import { batchBodySchema, queryBodySchema, sessionBodySchema, sessionQueryBodySchema } from './schemas';

export interface DatabaseOperationsDeps {
  pools: DatabaseBroker;
  queries: QueryService;
  sessions: SessionService;
  settings: BrokerSettings;
}

const configId = z.string().regex(CONFIG_ID_PATTERN, 'must be a configId');
const connectorParams = z.object({ configId });
const sessionParams = z.object({ configId, sessionId: z.string() });

const field = z.object({ name: z.string(), dataTypeID: z.number().int() });
const statementResult = z.object({ command: z.string(), rowCount: z.number().int().nullable(), rows: z.array(z.unknown()), fields: z.array(field) });
const queryResult = statementResult.extend({ durationMs: z.number() });
const batchResult = z.object({ results: z.array(statementResult), durationMs: z.number() });
const sessionInfo = z.object({ sessionId: z.string(), configId: z.string(), expiresAt: z.string() });
const sessionQueryResult = queryResult.extend({ expiresAt: z.string() });
const sessionFinished = sessionInfo.extend({ result: z.string() });
const sessionClosed = z.object({ sessionId: z.string(), closed: z.literal(true) });

const TAGS = ['databases'];
const CONNECTOR = { param: 'configId' };

/**
 * Every route of the db-broker, declared once: the kit serves and documents them, and the
 * gRPC methods that mirror a route are bound to the same operation. Results are
 * serialized once, with the response size limit applied before anything is sent.
 */
export function databaseOperations(deps: DatabaseOperationsDeps): Operation[] {
  const { queries, sessions, settings } = deps;
  const serialize = (body: unknown): string => serializeBody(body, settings.maxResponseBytes);
  return [
    ...statusOperations(deps.pools, { path: '/v1/databases', tag: 'databases', idPrefix: 'db', noun: 'database connector' }),
    defineOperation({
      id: 'db.query',
      method: 'POST',
      path: '/v1/databases/:configId/query',
      summary: 'Run one statement: {sql, params?, rowMode?, timeoutMs?} -> {command, rowCount, rows, fields, durationMs}',
      tags: TAGS,
      scopes: [Scope.USE],
      connector: CONNECTOR,
      params: connectorParams,
      body: queryBodySchema,
      response: queryResult,
      serialize,
      handle: ({ params, body, principal }) => queries.query(principal, params.configId, body),
    }),
    defineOperation({
      id: 'db.batch',
      method: 'POST',
      path: '/v1/databases/:configId/batch',
      summary: 'Run statements in order; with transaction (default true) all-or-nothing',
      tags: TAGS,
      scopes: [Scope.USE],
      connector: CONNECTOR,
      params: connectorParams,
      body: batchBodySchema,
      response: batchResult,
      serialize,
      handle: ({ params, body, principal }) => queries.batch(principal, params.configId, body),
    }),
    defineOperation({
      id: 'db.sessions.open',
      method: 'POST',
      path: '/v1/databases/:configId/sessions',
      summary: 'Open an interactive session (one pinned connection, in a transaction): {ttlMs?} -> {sessionId, expiresAt}',
      tags: TAGS,
      scopes: [Scope.USE],
      connector: CONNECTOR,
      params: connectorParams,
      body: sessionBodySchema,
      response: sessionInfo,
      status: 201,
      handle: ({ params, body, principal }) => sessions.open(principal, params.configId, body),
    }),
    defineOperation({
      id: 'db.sessions.query',
      method: 'POST',
      path: '/v1/databases/:configId/sessions/:sessionId/query',
      summary: 'Run a statement inside the session (anything goes, SET and savepoints included)',
      tags: TAGS,
      scopes: [Scope.USE],
      connector: CONNECTOR,
      params: sessionParams,
      body: sessionQueryBodySchema,
      response: sessionQueryResult,
      serialize,
      handle: ({ params, body, principal }) => sessions.query(principal, params.configId, params.sessionId, body),
    }),
    defineOperation({
      id: 'db.sessions.commit',
      method: 'POST',
      path: '/v1/databases/:configId/sessions/:sessionId/commit',
      summary: 'COMMIT the session transaction; a new one begins',
      tags: TAGS,
      scopes: [Scope.USE],
      connector: CONNECTOR,
      params: sessionParams,
      response: sessionFinished,
      handle: ({ params, principal }) => sessions.finish(principal, params.configId, params.sessionId, 'commit'),
    }),
    defineOperation({
      id: 'db.sessions.rollback',
      method: 'POST',
      path: '/v1/databases/:configId/sessions/:sessionId/rollback',
      summary: 'ROLLBACK the session transaction; a new one begins',
      tags: TAGS,
      scopes: [Scope.USE],
      connector: CONNECTOR,
      params: sessionParams,
      response: sessionFinished,
      handle: ({ params, principal }) => sessions.finish(principal, params.configId, params.sessionId, 'rollback'),
    }),
    defineOperation({
      id: 'db.sessions.close',
      method: 'DELETE',
      path: '/v1/databases/:configId/sessions/:sessionId',
      summary: 'Close the session: roll back what is open and release the connection',
      tags: TAGS,
      scopes: [Scope.USE],
      connector: CONNECTOR,
      params: sessionParams,
      response: sessionClosed,
      handle: ({ params, principal }) => sessions.close(principal, params.configId, params.sessionId),
    }),
  ];
}
