import { BreakerState, CONFIG_ID_PATTERN, ConnectionState } from '@patchbay/core';
import { z } from 'zod';
import { Scope } from '../auth/scopes';
import { defineOperation, type Operation } from '../operations/operation';
import type { Broker } from './broker';
import type { ConnectionStatus } from './connection-status';

export interface StatusOperationsOptions {
  /** e.g. `/v1/databases`: `GET path`, `GET path/:configId`, `POST path/:configId/breaker`. */
  path: string;
  /** OpenAPI tag, e.g. `databases`. */
  tag: string;
  /** Prefix of the operation ids, e.g. `db` gives `db.list`, `db.get`, `db.breaker`. */
  idPrefix: string;
  /** What one item is called in summaries, e.g. `database connector`. */
  noun: string;
}

const errorRecord = z.object({ message: z.string(), at: z.string() });

/** The common part of a status; driver details pass through. */
export const connectionStatusSchema: z.ZodType<ConnectionStatus, z.ZodTypeDef, unknown> = z
  .object({
    id: z.string(),
    configId: z.string(),
    kind: z.string(),
    state: z.nativeEnum(ConnectionState),
    breaker: z.nativeEnum(BreakerState),
    revision: z.number().int(),
    target: z.string(),
    lastError: errorRecord.nullable(),
    previousError: errorRecord.extend({ clearedAt: z.string() }).nullable(),
    retryAt: z.string().nullable(),
    drainingHandles: z.number().int().optional(),
  })
  .passthrough();

const configIdParams = z.object({
  configId: z.string().regex(CONFIG_ID_PATTERN, 'must be a configId (a letter, then letters, digits or _; at most 63)'),
});

export const breakerActionSchema = z.object({ action: z.enum(['open', 'disable', 'reset']) }).strict();

/**
 * The three status operations every broker serves over its connections: list (filtered
 * by the token's allow-list), one connector (403 outside it), and operating its breaker
 * (admin).
 */
export function statusOperations<Spec, Handle>(broker: Broker<Spec, Handle>, options: StatusOperationsOptions): Operation[] {
  const { path, tag, idPrefix, noun } = options;
  const list = defineOperation({
    id: `${idPrefix}.list`,
    method: 'GET',
    path,
    summary: `Every ${noun}: state, breaker, target, last error`,
    tags: [tag],
    scopes: [Scope.READ],
    response: z.object({ items: z.array(connectionStatusSchema) }),
    handle: ({ principal }) => ({ items: broker.statuses(principal) }),
  });
  const get = defineOperation({
    id: `${idPrefix}.get`,
    method: 'GET',
    path: `${path}/:configId`,
    summary: `One ${noun}: state, breaker, target, last error`,
    tags: [tag],
    scopes: [Scope.READ],
    connector: { param: 'configId' },
    params: configIdParams,
    response: connectionStatusSchema,
    handle: ({ params, principal }) => broker.status(params.configId, principal),
  });
  const breaker = defineOperation({
    id: `${idPrefix}.breaker`,
    method: 'POST',
    path: `${path}/:configId/breaker`,
    summary: 'Operate the breaker: {action: "open"} holds it open (forced_open), "disable" lets everything through, "reset" closes it',
    tags: [tag],
    scopes: [Scope.ADMIN],
    connector: { param: 'configId' },
    params: configIdParams,
    body: breakerActionSchema,
    response: connectionStatusSchema,
    handle: ({ params, body, principal }) => {
      const connection = broker.connectionFor(principal, params.configId);
      connection.controlBreaker(body.action);
      return connection.status();
    },
  });
  return [list, get, breaker];
}
