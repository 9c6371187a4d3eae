import { connectionStatusSchema, type ConnectionStatus, type GrpcBinder, type Operation } from '@patchbay/nest';
import { API_SERVICE, loadService } from '@patchbay/proto';
import { z } from 'zod';

const statusList = z.object({ items: z.array(connectionStatusSchema) });

interface ProtoStatus {
  id: string;
  configId: string;
  kind: string;
  state: string;
  breaker: string;
  revision: number;
  target: string;
  lastError?: { message: string; at: string };
  retryAt: string;
  drainingHandles: number;
}

/** The REST status as the proto's message: proto3 has no null, so absent fields stay unset or empty. */
function toProtoStatus(status: ConnectionStatus): ProtoStatus {
  return {
    id: status.id,
    configId: status.configId,
    kind: status.kind,
    state: status.state,
    breaker: status.breaker,
    revision: status.revision,
    target: status.target,
    ...(status.lastError ? { lastError: { message: status.lastError.message, at: status.lastError.at } } : {}),
    retryAt: status.retryAt ?? '',
    drainingHandles: status.drainingHandles ?? 0,
  };
}

/** `patchbay.api.v1.ApiBroker`: the status operations, bound as they are (same scopes, allow-list, handlers). */
export function bindStatusRpcs(binder: GrpcBinder, operations: { list: Operation; get: Operation }): void {
  const { definition } = loadService('api', API_SERVICE);
  binder.addService(definition, {
    ListConnections: binder.operation<unknown, { items: ProtoStatus[] }>(operations.list, {
      input: () => ({}),
      output: (result) => ({ items: statusList.parse(result).items.map(toProtoStatus) }),
    }),
    GetConnection: binder.operation<{ configId: string }, ProtoStatus>(operations.get, {
      input: (request) => ({ params: { configId: request.configId } }),
      output: (result) => toProtoStatus(connectionStatusSchema.parse(result)),
    }),
  });
}
