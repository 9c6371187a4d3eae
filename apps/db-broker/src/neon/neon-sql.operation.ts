import type { IncomingHttpHeaders } from 'node:http';
import { CONFIG_ID_PATTERN, ErrorCode, PatchbayError } from '@patchbay/core';
import { Scope, defineOperation, type CredentialReader, type Operation } from '@patchbay/nest';
import { z } from 'zod';
import type { BrokerSettings } from '../config/broker-settings';
import type { StatementResult } from '../query/execute';
import { serializeBody } from '../query/execute';
import type { QueryService } from '../query/query.service';
import { NEON_ERRORS } from './neon-errors';

const statement = z
  .object({
    query: z.string({ required_error: 'is required', invalid_type_error: 'must be a string of SQL' }).min(1, 'must not be empty'),
    params: z.array(z.unknown(), { invalid_type_error: 'must be an array of values for $1, $2, ...' }).optional(),
  })
  .strict();
/** The driver posts its JSON without a Content-Type (fetch then sends text/plain): the kit hands such a body over as text. */
function jsonText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}
const body = z.preprocess(
  jsonText,
  z.union([statement, z.object({ queries: z.array(statement).min(1, 'must hold at least one query') }).strict()], {
    errorMap: () => ({ message: 'send JSON {query, params} or {queries: [{query, params}, ...]}' }),
  }),
);

const field = z.object({
  name: z.string(),
  dataTypeID: z.number().int(),
  tableID: z.number().int().optional(),
  columnID: z.number().int().optional(),
  dataTypeSize: z.number().int().optional(),
  dataTypeModifier: z.number().int().optional(),
  format: z.string().optional(),
});
const result = z.object({
  command: z.string(),
  rowCount: z.number().int().nullable(),
  rows: z.array(z.unknown()),
  fields: z.array(field),
  rowAsArray: z.boolean(),
});
const response = z.union([result, z.object({ results: z.array(result) })]);

const ISOLATION: Record<string, string> = {
  ReadUncommitted: 'READ UNCOMMITTED',
  ReadCommitted: 'READ COMMITTED',
  RepeatableRead: 'REPEATABLE READ',
  Serializable: 'SERIALIZABLE',
};

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function connectionUrl(headers: IncomingHttpHeaders): URL | undefined {
  const text = header(headers, 'neon-connection-string');
  if (!text) return undefined;
  try {
    return new URL(text.replace(/^postgres(ql)?:/i, 'http:'));
  } catch {
    return undefined;
  }
}

/** The token: `Authorization: Bearer` (the driver's `authToken`), else the connection string's password. */
const neonCredentials: CredentialReader = (headers) => {
  const authorization = header(headers, 'authorization');
  if (authorization?.toLowerCase().startsWith('bearer ')) return authorization.slice(7).trim() || undefined;
  const password = connectionUrl(headers)?.password;
  return password ? decodeURIComponent(password) : undefined;
};

function configIdOf(headers: IncomingHttpHeaders): string {
  const url = connectionUrl(headers);
  if (!url)
    throw new PatchbayError(ErrorCode.VALIDATION, 'Neon-Connection-String must be a postgres:// URL whose database is the configId of a database connector');
  const configId = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!CONFIG_ID_PATTERN.test(configId)) throw new PatchbayError(ErrorCode.VALIDATION, `Neon-Connection-String: database '${configId}' is not a configId`);
  return configId;
}

function flag(headers: IncomingHttpHeaders, name: string): boolean | undefined {
  const value = header(headers, name);
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new PatchbayError(ErrorCode.VALIDATION, `${name} must be 'true' or 'false'`);
}

/** `BEGIN` modes of a transaction from the Neon-Batch-* headers, or undefined for the defaults. */
function transactionModes(headers: IncomingHttpHeaders): string | undefined {
  const modes: string[] = [];
  const isolation = header(headers, 'neon-batch-isolation-level');
  if (isolation !== undefined) {
    const sql = ISOLATION[isolation];
    if (!sql) throw new PatchbayError(ErrorCode.VALIDATION, `Neon-Batch-Isolation-Level must be one of ${Object.keys(ISOLATION).join(', ')}`);
    modes.push(`ISOLATION LEVEL ${sql}`);
  }
  const readOnly = flag(headers, 'neon-batch-read-only');
  if (readOnly !== undefined) modes.push(readOnly ? 'READ ONLY' : 'READ WRITE');
  const deferrable = flag(headers, 'neon-batch-deferrable');
  if (deferrable !== undefined) modes.push(deferrable ? 'DEFERRABLE' : 'NOT DEFERRABLE');
  return modes.length > 0 ? modes.join(' ') : undefined;
}

function neonResult(r: StatementResult, arrayMode: boolean): z.infer<typeof result> {
  return { command: r.command, rowCount: r.rowCount, rows: r.rows, fields: r.fields, rowAsArray: arrayMode };
}

/**
 * `POST /sql`: the HTTP protocol of `@neondatabase/serverless` (`neon()` queries and
 * `sql.transaction`) on the connector's pool. The connection string's database is the
 * configId; its user and host are ignored.
 */
export function neonSqlOperation(deps: { queries: QueryService; settings: BrokerSettings }): Operation {
  const { queries, settings } = deps;
  return defineOperation({
    id: 'db.neonSql',
    method: 'POST',
    path: '/sql',
    summary: 'Neon serverless HTTP protocol: {query, params} or {queries} (a transaction), database = configId in Neon-Connection-String',
    tags: ['neon'],
    scopes: [Scope.USE],
    credentials: neonCredentials,
    body,
    response,
    errors: NEON_ERRORS,
    serialize: (answer) => serializeBody(answer, settings.maxResponseBytes),
    async handle({ body: input, headers, principal }) {
      const configId = configIdOf(headers);
      const arrayMode = flag(headers, 'neon-array-mode') ?? false;
      const rawText = flag(headers, 'neon-raw-text-output') ?? false;
      const rowMode = arrayMode ? 'array' : 'object';
      if ('queries' in input) {
        const modes = transactionModes(headers);
        const batch = await queries.batch(principal, configId, {
          queries: input.queries.map((q) => ({ sql: q.query, params: q.params, rowMode, rawText, allFields: true })),
          transaction: true,
          transactionModes: modes,
        });
        return { results: batch.results.map((r) => neonResult(r, arrayMode)) };
      }
      const one = await queries.query(principal, configId, { sql: input.query, params: input.params, rowMode, rawText, allFields: true });
      return neonResult(one, arrayMode);
    },
  });
}
