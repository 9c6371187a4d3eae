import type { sendUnaryData, ServerUnaryCall, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { GrpcServer } from '../grpc/grpc-server';
import type { Operation } from '../operations/operation';
import type { OperationInput, OperationPipeline } from '../operations/pipeline';

/** How a gRPC method maps onto an operation: its request to the operation's input, the result back. */
export interface GrpcMapping<Req, Res> {
  input(request: Req): Partial<OperationInput>;
  output(result: unknown): Res;
}

/**
 * Adds gRPC services to a service's gRPC server. A method that mirrors a route is bound
 * to that route's operation: same scopes, allow-list, schemas and handler, so the two
 * cannot drift. Methods with no route (server streams) use the server's own helpers.
 */
export class GrpcBinder {
  constructor(
    readonly server: GrpcServer,
    private readonly pipeline: OperationPipeline,
  ) {}

  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.server.addService(definition, implementation);
  }

  /** A unary method running `operation`. Only JSON operations (no raw body, no stream) can be bound. */
  operation<Req, Res>(operation: Operation, mapping: GrpcMapping<Req, Res>): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
    if (operation.body === 'raw' || (operation.produces !== undefined && operation.produces !== 'json')) {
      throw new Error(`operation '${operation.id}' reads or writes the raw HTTP stream and cannot be bound to a unary gRPC method`);
    }
    const scopes = operation.scopes === 'public' ? [] : operation.scopes;
    return this.server.unary<Req, Res>(scopes, async (request, context) => {
      const input = mapping.input(request);
      const result = await this.pipeline.run(
        operation,
        context.principal,
        { params: input.params ?? {}, query: input.query ?? {}, body: input.body, ...(input.headers ? { headers: input.headers } : {}) },
        context.signal,
      );
      return mapping.output(result);
    });
  }
}
