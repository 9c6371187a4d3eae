import { ErrorCode, PatchbayError } from '@patchbay/core';
import { Scope, assertConfigId, type ConnectionStatus, type GrpcServer } from '@patchbay/nest';
import { DB_SERVICE, loadService } from '@patchbay/proto';
import type { BrokerSettings } from '../config/broker-settings';
import { serializeBody, type StatementResult } from '../query/execute';
import type { DatabaseBroker } from '../pools/database-driver';
import type { QueryService } from '../query/query.service';

interface QueryRequest {
  configId: string;
  sql: string;
  paramsJson: string;
  rowMode: string;
  timeoutMs: number;
}

interface BatchRequest {
  configId: string;
  queries: { sql: string; paramsJson: string }[];
  transaction?: boolean;
}

interface ProtoResult {
  command: string;
  rowCount: number;
  rowsJson: string;
  fields: { name: string; dataTypeId: number }[];
  durationMs: number;
}

function configIdOf(value: string): string {
  return assertConfigId(value, 'config_id');
}

function paramsOf(text: string, field: string): unknown[] | undefined {
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PatchbayError(ErrorCode.VALIDATION, `${field} is not valid JSON`);
  }
  if (!Array.isArray(value)) throw new PatchbayError(ErrorCode.VALIDATION, `${field} must be a JSON array of values for $1, $2, ...`);
  return value;
}

function sqlOf(value: string, field: string): string {
  if (value === '') throw new PatchbayError(ErrorCode.VALIDATION, `${field} must not be empty`);
  return value;
}

function protoStatus(status: ConnectionStatus): Record<string, unknown> {
  return {
    configId: status.configId,
    state: status.state,
    breaker: status.breaker,
    pool: status['pool'],
    target: status.target,
    revision: status.revision,
    lastError: status.lastError?.message ?? '',
    lastErrorAt: status.lastError?.at ?? '',
    drainingPools: status['drainingPools'],
    openSessions: status['openSessions'],
  };
}

/** Registers the DatabaseBroker gRPC service: the same operations, scopes and limits as REST. */
export function registerDbGrpc(grpc: GrpcServer, queries: QueryService, pools: DatabaseBroker, settings: BrokerSettings): void {
  const { definition } = loadService('db', DB_SERVICE);
  const toProto = (result: StatementResult, durationMs: number): ProtoResult => ({
    command: result.command,
    rowCount: result.rowCount ?? -1,
    rowsJson: serializeBody(result.rows, settings.maxResponseBytes),
    fields: result.fields.map((field) => ({ name: field.name, dataTypeId: field.dataTypeID })),
    durationMs,
  });
  grpc.addService(definition, {
    Query: grpc.unary<QueryRequest, ProtoResult>([Scope.USE], async (request, { principal }) => {
      if (request.rowMode !== '' && request.rowMode !== 'object' && request.rowMode !== 'array') {
        throw new PatchbayError(ErrorCode.VALIDATION, 'row_mode must be "object" or "array"');
      }
      const result = await queries.query(principal, configIdOf(request.configId), {
        sql: sqlOf(request.sql, 'sql'),
        params: paramsOf(request.paramsJson, 'params_json'),
        rowMode: request.rowMode === 'array' ? 'array' : 'object',
        timeoutMs: request.timeoutMs > 0 ? request.timeoutMs : undefined,
      });
      return toProto(result, result.durationMs);
    }),
    Batch: grpc.unary<BatchRequest, { results: ProtoResult[]; durationMs: number }>([Scope.USE], async (request, { principal }) => {
      const output = await queries.batch(principal, configIdOf(request.configId), {
        queries: request.queries.map((query, index) => ({
          sql: sqlOf(query.sql, `queries[${index}].sql`),
          params: paramsOf(query.paramsJson, `queries[${index}].params_json`),
        })),
        transaction: request.transaction ?? true,
      });
      return { results: output.results.map((result) => toProto(result, 0)), durationMs: output.durationMs };
    }),
    ListDatabases: grpc.unary<Record<string, never>, { databases: Record<string, unknown>[] }>([Scope.READ], async (_request, { principal }) => ({
      databases: pools.statuses(principal).map(protoStatus),
    })),
    GetDatabase: grpc.unary<{ configId: string }, Record<string, unknown>>([Scope.READ], async (request, { principal }) => {
      return protoStatus(pools.status(configIdOf(request.configId), principal));
    }),
  });
}
