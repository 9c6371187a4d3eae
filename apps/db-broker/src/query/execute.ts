import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { PoolClient, QueryConfig, QueryResult } from 'pg';
import { isConnectionError } from '../errors/pg-errors';
import { readTimeoutFor, runQuery } from './run-query';
import { mayHoldSeveralStatements } from './statements';

export type RowMode = 'object' | 'array';

/** One statement as the API receives it. */
export interface Statement {
  sql: string;
  params?: unknown[] | undefined;
  rowMode?: RowMode | undefined;
  /** Values as Postgres' text output, unparsed (the Neon HTTP protocol's raw text mode). */
  rawText?: boolean | undefined;
}

/** One statement's answer, as the API returns it. */
export interface StatementResult {
  command: string;
  rowCount: number | null;
  rows: unknown[];
  fields: FieldInfo[];
}

/** A result column: name and type, plus the attributes the Neon protocol carries when asked for. */
export interface FieldInfo {
  name: string;
  dataTypeID: number;
  tableID?: number;
  columnID?: number;
  dataTypeSize?: number;
  dataTypeModifier?: number;
  format?: string;
}

/** Every column as the text Postgres sent. */
const RAW_TEXT_TYPES = { getTypeParser: () => (value: string) => value };

/**
 * Runs one statement. Parameters are always bound, never interpolated. Several
 * statements in one string are refused by the server over the extended protocol
 * (`cannot insert multiple commands into a prepared statement`, 42601 -> 400); only a
 * parameterless text that is certainly one statement takes the simple protocol (one
 * message instead of five: measurably cheaper for `SELECT 1`-sized queries).
 *
 * The client-side read timeout follows the statement timeout in force (plus a grace).
 */
export function execute(client: PoolClient, statement: Statement, statementTimeoutMs: number): Promise<QueryResult> {
  const params = statement.params ?? [];
  const simple = params.length === 0 && !mayHoldSeveralStatements(statement.sql);
  const readTimeoutMs = readTimeoutFor(statementTimeoutMs);
  if (statement.rowMode !== 'array' && !statement.rawText) {
    // The plain (text[, values]) forms: pg copies a config object on every call.
    if (simple) return runQuery(client, statement.sql, undefined, readTimeoutMs);
    if (params.length > 0) return runQuery(client, statement.sql, params, readTimeoutMs);
  }
  const config = {
    text: statement.sql,
    ...(simple ? {} : { values: params, queryMode: 'extended' }),
    ...(statement.rowMode === 'array' ? { rowMode: 'array' } : {}),
    ...(statement.rawText ? { types: RAW_TEXT_TYPES } : {}),
  };
  return runQuery(client, config as QueryConfig, undefined, readTimeoutMs);
}

/**
 * Runs `work` with `statement_timeout` set to `timeoutMs` when it differs from the
 * connection's default, and sets it back afterwards (the connection returns to a pool).
 */
export function withStatementTimeout<T>(client: PoolClient, timeoutMs: number, connectionDefaultMs: number, work: () => Promise<T>): Promise<T> {
  return timeoutMs === connectionDefaultMs ? work() : withOwnTimeout(client, timeoutMs, connectionDefaultMs, work);
}

async function withOwnTimeout<T>(client: PoolClient, timeoutMs: number, connectionDefaultMs: number, work: () => Promise<T>): Promise<T> {
  const reset = (): Promise<unknown> =>
    runQuery(client, "SELECT set_config('statement_timeout', $1, false)", [String(connectionDefaultMs)], readTimeoutFor(connectionDefaultMs));
  await runQuery(client, "SELECT set_config('statement_timeout', $1, false)", [String(timeoutMs)], readTimeoutFor(connectionDefaultMs));
  let result: T;
  try {
    result = await work();
  } catch (error) {
    // The statement's own error stays the answer (a timeout, not the reset's "connection
    // terminated" after a server that closed the session at its deadline). A connection
    // lost meanwhile is ended, so pg-pool never hands it out again; a server error here
    // means an aborted transaction, whose rollback undoes the SET as well.
    await reset().catch((resetError: unknown) => {
      if (isConnectionError(resetError)) client.end().catch(() => undefined);
    });
    throw error;
  }
  await reset();
  return result;
}

/**
 * Shapes a driver result and enforces the row limit.
 * @throws PatchbayError PAYLOAD_TOO_LARGE past `maxRows` (the statement has run: send
 *   writes in a transactional batch to have them rolled back by this limit).
 */
export function shapeResult(result: QueryResult, maxRows: number, allFieldAttributes = false): StatementResult {
  if (Array.isArray(result)) {
    // Only reachable if the one-statement scan was wrong; never return half an answer.
    throw new PatchbayError(ErrorCode.VALIDATION, 'send one statement per query (use a batch for several)');
  }
  const rows = result.rows as unknown[];
  if (rows.length > maxRows) {
    throw new PatchbayError(ErrorCode.PAYLOAD_TOO_LARGE, `result has ${rows.length} rows, the limit is ${maxRows}: add a LIMIT or page with WHERE/OFFSET`, {
      details: { maxRows, rows: rows.length },
    });
  }
  return {
    command: result.command,
    rowCount: result.rowCount,
    rows,
    fields: (result.fields ?? []).map((field) =>
      allFieldAttributes
        ? {
            name: field.name,
            dataTypeID: field.dataTypeID,
            tableID: field.tableID,
            columnID: field.columnID,
            dataTypeSize: field.dataTypeSize,
            dataTypeModifier: field.dataTypeModifier,
            format: field.format,
          }
        : { name: field.name, dataTypeID: field.dataTypeID },
    ),
  };
}

/**
 * Serializes an answer once and enforces the response size limit.
 * @throws PatchbayError PAYLOAD_TOO_LARGE past `maxBytes`.
 */
export function serializeBody(body: unknown, maxBytes: number): string {
  const text = JSON.stringify(body);
  // Cheap bound first: UTF-8 is at most 3 bytes per UTF-16 code unit.
  if (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes) {
    throw new PatchbayError(
      ErrorCode.PAYLOAD_TOO_LARGE,
      `response would be ${Buffer.byteLength(text)} bytes, the limit is ${maxBytes}: select fewer rows or columns`,
      {
        details: { maxResponseBytes: maxBytes },
      },
    );
  }
  return text;
}
