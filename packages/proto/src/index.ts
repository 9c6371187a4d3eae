import { join } from 'node:path';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

/** Directory holding the `.proto` files (for other languages' code generators). */
export const PROTO_ROOT = join(__dirname, '..', 'proto');

/** The proto files, relative to {@link PROTO_ROOT}. */
export const PROTO_FILES = {
  registry: 'patchbay/registry/v1/registry.proto',
  db: 'patchbay/db/v1/db.proto',
  llm: 'patchbay/llm/v1/llm.proto',
  mcp: 'patchbay/mcp/v1/mcp.proto',
  api: 'patchbay/api/v1/api.proto',
} as const;

/** Loader options every Patchbay client and server uses: camelCase fields, int64 as number. */
export const LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

/** A loaded gRPC service: its definition (for servers) and client constructor. */
export interface LoadedService {
  definition: ServiceDefinition;
  Client: ServiceClientConstructor;
}

function lookup(root: GrpcObject, path: string): ServiceClientConstructor {
  let node: unknown = root;
  for (const part of path.split('.')) {
    node = (node as Record<string, unknown> | undefined)?.[part];
  }
  if (typeof node !== 'function' || !('service' in node)) throw new Error(`gRPC service ${path} not found in protos`);
  return node as ServiceClientConstructor;
}

/**
 * Loads one Patchbay gRPC service.
 * @param file key of {@link PROTO_FILES}
 * @param service fully-qualified service name, e.g. `patchbay.registry.v1.ConnectorRegistry`
 * @throws Error when the service is not in the file.
 */
export function loadService(file: keyof typeof PROTO_FILES, service: string): LoadedService {
  const definition = loadSync(PROTO_FILES[file], LOADER_OPTIONS);
  const Client = lookup(loadPackageDefinition(definition), service);
  return { definition: Client.service, Client };
}

export const REGISTRY_SERVICE = 'patchbay.registry.v1.ConnectorRegistry';
export const DB_SERVICE = 'patchbay.db.v1.DatabaseBroker';
export const LLM_SERVICE = 'patchbay.llm.v1.LlmProxy';
export const MCP_SERVICE = 'patchbay.mcp.v1.McpBroker';
export const API_SERVICE = 'patchbay.api.v1.ApiBroker';
