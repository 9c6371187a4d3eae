import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { ConnectionStatus, GrpcBinder, Operation } from '@patchbay/nest';
import { DB_SERVICE, loadService } from '@patchbay/proto';
import type { BrokerSettings } from '../config/broker-settings';
import { serializeBody, type StatementResult } from '../query/execute';
import type { BatchOutput, QueryOutput } from '../query/query.service';

interface QueryRequest {
  configId: string;
  sql: string;
  paramsJson: string;
  rowMode: string;
  timeoutMs: number;
  readOnly: boolean;
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

function paramsOf(text: string, field: string): unknown[] | undefined {
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PatchbayError(ErrorCode.VALIDATION, `${field} is not valid JSON`);
  }
  if (!Array.isArray(value)) throw new PatchbayError(ErrorCode.VALIDATION, `${field} must be a JSON array of values for $1, $2, ...`);
  const values: unknown[] = value;
  return values;
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

/**
 * The DatabaseBroker gRPC service, each method bound to the operation of the route it
 * mirrors (same scopes, allow-list, checks and handler): proto fields in, proto message out.
 */
export function bindDbGrpc(grpc: GrpcBinder, operations: readonly Operation[], settings: BrokerSettings): void {
  const operation = (id: string): Operation => {
    const found = operations.find((candidate) => candidate.id === id);
    if (!found) throw new Error(`no operation '${id}'`);
    return found;
  };
  const toProto = (result: StatementResult, durationMs: number): ProtoResult => ({
    command: result.command,
    rowCount: result.rowCount ?? -1,
    rowsJson: serializeBody(result.rows, settings.maxResponseBytes),
    fields: result.fields.map((field) => ({ name: field.name, dataTypeId: field.dataTypeID })),
    durationMs,
  });
  const { definition } = loadService('db', DB_SERVICE);
  grpc.addService(definition, {
    Query: grpc.operation<QueryRequest, ProtoResult>(operation('db.query'), {
      input: (request) => ({
        params: { configId: request.configId },
        body: {
          sql: request.sql,
          params: paramsOf(request.paramsJson, 'params_json'),
          // proto3 defaults ('' and 0) mean "not set".
          rowMode: request.rowMode === '' ? undefined : request.rowMode,
          timeoutMs: request.timeoutMs > 0 ? request.timeoutMs : undefined,
          readOnly: request.readOnly ? true : undefined,
        },
      }),
      output: (result) => {
        const output = result as QueryOutput;
        return toProto(output, output.durationMs);
      },
    }),
    Batch: grpc.operation<BatchRequest, { results: ProtoResult[]; durationMs: number }>(operation('db.batch'), {
      input: (request) => ({
        params: { configId: request.configId },
        body: {
          queries: request.queries.map((query, index) => ({ sql: query.sql, params: paramsOf(query.paramsJson, `queries[${index}].params_json`) })),
          transaction: request.transaction ?? true,
        },
      }),
      output: (result) => {
        const output = result as BatchOutput;
        return { results: output.results.map((statement) => toProto(statement, 0)), durationMs: output.durationMs };
      },
    }),
    ListDatabases: grpc.operation<Record<string, never>, { databases: Record<string, unknown>[] }>(operation('db.list'), {
      input: () => ({}),
      output: (result) => ({ databases: (result as { items: ConnectionStatus[] }).items.map(protoStatus) }),
    }),
    GetDatabase: grpc.operation<{ configId: string }, Record<string, unknown>>(operation('db.get'), {
      input: (request) => ({ params: { configId: request.configId } }),
      output: (result) => protoStatus(result as ConnectionStatus),
    }),
  });
}
