import {
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import type { Logger } from 'pino';
import { assertScopes, bearerToken } from '../auth/auth.guard';
import type { Principal, Scope } from '../auth/scopes';
import type { TokenStore } from '../auth/token-store';
import { toPatchbayError } from '../errors/problem';

/** PatchbayError codes -> gRPC status codes, in one place. */
const GRPC_STATUS: Readonly<Record<ErrorCode, status>> = {
  [ErrorCode.VALIDATION]: status.INVALID_ARGUMENT,
  [ErrorCode.PAYLOAD_TOO_LARGE]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.REQUEST_TIMEOUT]: status.DEADLINE_EXCEEDED,
  [ErrorCode.URI_TOO_LONG]: status.INVALID_ARGUMENT,
  [ErrorCode.HEADERS_TOO_LARGE]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.UNAUTHORIZED]: status.UNAUTHENTICATED,
  [ErrorCode.FORBIDDEN]: status.PERMISSION_DENIED,
  [ErrorCode.NOT_FOUND]: status.NOT_FOUND,
  [ErrorCode.CONFLICT]: status.ABORTED,
  [ErrorCode.PRECONDITION_FAILED]: status.FAILED_PRECONDITION,
  [ErrorCode.UNPROCESSABLE]: status.INVALID_ARGUMENT,
  [ErrorCode.RATE_LIMITED]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.POOL_EXHAUSTED]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.CIRCUIT_OPEN]: status.UNAVAILABLE,
  [ErrorCode.TIMEOUT]: status.DEADLINE_EXCEEDED,
  [ErrorCode.CANCELLED]: status.CANCELLED,
  [ErrorCode.UPSTREAM_UNAVAILABLE]: status.UNAVAILABLE,
  [ErrorCode.UPSTREAM_ERROR]: status.UNKNOWN,
  [ErrorCode.UNAVAILABLE]: status.UNAVAILABLE,
  [ErrorCode.INTERNAL]: status.INTERNAL,
};

/** The gRPC status for an error code. */
export function grpcStatusFor(code: ErrorCode): status {
  return GRPC_STATUS[code];
}

/** A gRPC error object carrying Patchbay's code in the `patchbay-code` trailer. */
export interface GrpcErrorObject {
  code: status;
  details: string;
  metadata: Metadata;
}

export interface GrpcHandlerContext {
  principal: Principal;
  metadata: Metadata;
  /** Fires when the client cancels or the deadline passes. */
  signal: AbortSignal;
}

/**
 * Serves gRPC services with the same tokens, scopes and error codes as the REST API.
 * Handlers are plain async functions; auth comes from the `authorization` metadata.
 */
export class GrpcServer {
  private readonly server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  private boundPort: number | undefined;

  constructor(
    private readonly tokens: TokenStore,
    private readonly logger: Logger,
  ) {}

  /** The port actually bound (useful with port 0). */
  get port(): number | undefined {
    return this.boundPort;
  }

  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.server.addService(definition, implementation);
  }

  /** A unary handler requiring one of `scopes`. */
  unary<Req, Res>(
    scopes: readonly Scope[],
    handler: (request: Req, context: GrpcHandlerContext) => Promise<Res>,
  ): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
    return (call, callback) => {
      const controller = new AbortController();
      call.on('cancelled', () => controller.abort());
      Promise.resolve()
        .then(() => {
          const principal = this.authenticate(call.metadata, scopes);
          return handler(call.request, { principal, metadata: call.metadata, signal: controller.signal });
        })
        .then(
          (response) => callback(null, response),
          (error: unknown) => callback(this.toGrpcError(error)),
        );
    };
  }

  /** A server-streaming handler requiring one of `scopes`; resolve to end the stream. */
  serverStream<Req, Res>(
    scopes: readonly Scope[],
    handler: (request: Req, write: (message: Res) => void, context: GrpcHandlerContext) => Promise<void>,
  ): (call: ServerWritableStream<Req, Res>) => void {
    return (call) => {
      const controller = new AbortController();
      call.on('cancelled', () => controller.abort());
      call.on('close', () => controller.abort());
      Promise.resolve()
        .then(() => {
          const principal = this.authenticate(call.metadata, scopes);
          return handler(call.request, (message) => call.write(message), {
            principal,
            metadata: call.metadata,
            signal: controller.signal,
          });
        })
        .then(
          () => call.end(),
          (error: unknown) => {
            // grpc-js sends a server stream's status from its own 'error' listener; destroy()
            // would skip that, so the client saw CANCELLED and the HTTP/2 stream was left open.
            if (!controller.signal.aborted) call.emit('error', Object.assign(new Error('grpc error'), this.toGrpcError(error)));
          },
        );
    };
  }

  /** Binds and starts serving; returns the bound port. */
  async listen(host: string, port: number): Promise<number> {
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      );
    });
    return this.boundPort;
  }

  /** Stops accepting calls, lets running ones finish for up to `graceMs`, then forces. */
  async close(graceMs = 5000): Promise<void> {
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  private authenticate(metadata: Metadata, scopes: readonly Scope[]): Principal {
    const values = metadata.get('authorization').map(String);
    const token = bearerToken(values[0]);
    if (!token) throw new PatchbayError(ErrorCode.UNAUTHORIZED, 'missing bearer token: send metadata `authorization: Bearer <token>`');
    const principal = this.tokens.authenticate(token);
    if (!principal) throw new PatchbayError(ErrorCode.UNAUTHORIZED, 'unknown or revoked token');
    assertScopes(principal, scopes);
    return principal;
  }

  private toGrpcError(thrown: unknown): GrpcErrorObject {
    const error = toPatchbayError(thrown);
    const metadata = new Metadata();
    metadata.set('patchbay-code', error.code);
    if (error.code === ErrorCode.INTERNAL) {
      this.logger.error({ err: error.cause ?? error }, 'gRPC handler failed');
    }
    return { code: grpcStatusFor(error.code), details: error.message, metadata };
  }
}
