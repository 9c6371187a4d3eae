import { ErrorCode, PatchbayError, type Connector, type ConnectorChange, type Credentials, type ResolvedConnector } from '@patchbay/core';
import { Scope, type GrpcBinder, type Operation, type OperationInput } from '@patchbay/nest';
import { REGISTRY_SERVICE, loadService } from '@patchbay/proto';
import type { ChangeFeed } from '../changes/change-feed';
import type { DeleteResult, PutResult } from '../connectors/connector.service';

/** proto3 has no "unset" for strings: empty means absent. */
function present(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function parseJsonObject(text: string | undefined, field: string): Record<string, unknown> | undefined {
  if (!present(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text as string);
  } catch {
    throw new PatchbayError(ErrorCode.VALIDATION, `${field} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PatchbayError(ErrorCode.VALIDATION, `${field} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

interface ProtoCredentials {
  apiKey?: string;
  username?: string;
  password?: string;
}

interface ProtoMember {
  id: string;
  url: string;
  stackId: string;
  transport: string;
  optionsJson: string;
  credentials?: ProtoCredentials | null;
}

interface PutRequest {
  configId: string;
  type: string;
  label: string;
  stackId: string;
  url: string;
  optionsJson: string;
  members: ProtoMember[];
  credentials?: ProtoCredentials | null;
  expectedRevision?: number;
}

function credentialsOf(proto: ProtoCredentials | null | undefined): Credentials | undefined {
  if (!proto) return undefined;
  const out: Credentials = {};
  if (present(proto.apiKey)) out.apiKey = proto.apiKey;
  if (present(proto.username)) out.username = proto.username;
  if (present(proto.password)) out.password = proto.password;
  return Object.keys(out).length ? out : undefined;
}

/** Builds the REST body shape from a PutConnector request. */
function bodyOf(request: PutRequest): Record<string, unknown> {
  const body: Record<string, unknown> = { type: request.type };
  if (present(request.label)) body.label = request.label;
  if (present(request.stackId)) body.stackId = request.stackId;
  if (present(request.url)) body.url = request.url;
  const options = parseJsonObject(request.optionsJson, 'options_json');
  if (options) body.options = options;
  const credentials = credentialsOf(request.credentials);
  if (credentials) body.credentials = credentials;
  if (request.members.length) {
    body.members = request.members.map((m, i) => {
      const member: Record<string, unknown> = { id: m.id };
      if (present(m.url)) member.url = m.url;
      if (present(m.stackId)) member.stackId = m.stackId;
      if (present(m.transport)) member.transport = m.transport;
      const memberOptions = parseJsonObject(m.optionsJson, `members[${i}].options_json`);
      if (memberOptions) member.options = memberOptions;
      const memberCredentials = credentialsOf(m.credentials);
      if (memberCredentials) member.credentials = memberCredentials;
      return member;
    });
  }
  return body;
}

function toProtoConnector(c: Connector): Record<string, unknown> {
  return {
    configId: c.configId,
    type: c.type,
    label: c.label,
    stackId: c.stackId ?? '',
    url: c.url ?? '',
    optionsJson: JSON.stringify(c.options),
    members: (c.members ?? []).map((m) => ({
      id: m.id,
      url: m.url ?? '',
      stackId: m.stackId ?? '',
      transport: m.transport ?? '',
      optionsJson: JSON.stringify(m.options ?? {}),
      credentialsSet: m.credentialsSet ?? [],
    })),
    credentialsSet: c.credentialsSet,
    revision: c.revision,
    checksum: c.checksum,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}

function toProtoResolved(r: ResolvedConnector): Record<string, unknown> {
  return {
    configId: r.configId,
    type: r.type,
    revision: r.revision,
    checksum: r.checksum,
    mode: r.mode,
    url: r.url ?? '',
    source: r.source,
    headers: r.headers,
    credentials: r.credentials ?? null,
    optionsJson: JSON.stringify(r.options),
    members: (r.members ?? []).map((m) => ({
      id: m.id,
      url: m.url ?? '',
      source: m.source,
      transport: m.transport ?? '',
      headers: m.headers,
      credentials: m.credentials ?? null,
      optionsJson: JSON.stringify(m.options ?? {}),
    })),
  };
}

function toProtoChange(c: ConnectorChange): Record<string, unknown> {
  return { revision: c.revision, configId: c.configId, type: c.type, action: c.action, checksum: c.checksum ?? '', at: c.at };
}

/** The operations the unary methods mirror, by id. */
type OperationsById = ReadonlyMap<string, Operation>;

function operation(operations: OperationsById, id: string): Operation {
  const found = operations.get(id);
  if (!found) throw new Error(`registry gRPC: no operation '${id}'`);
  return found;
}

/**
 * Registers `patchbay.registry.v1.ConnectorRegistry`. Each unary method runs the REST
 * route's operation (same scopes, allow-list, validation and handler); only the message
 * shapes differ. The change stream has no unary twin and streams from the feed.
 */
export function registerRegistryGrpc(binder: GrpcBinder, operations: OperationsById, feed: ChangeFeed): void {
  const { definition } = loadService('registry', REGISTRY_SERVICE);
  const byId = { params: (request: { configId: string }) => ({ configId: request.configId }) };
  binder.addService(definition, {
    PutConnector: binder.operation<PutRequest, unknown>(operation(operations, 'connectors.put'), {
      input: (request) => ({
        params: byId.params(request),
        body: bodyOf(request),
        ...(request.expectedRevision === undefined ? {} : { headers: { 'if-match': `"${request.expectedRevision}"` } }),
      }),
      output: (result) => {
        const { connector, created, changed } = result as PutResult;
        return { connector: toProtoConnector(connector), created, changed };
      },
    }),
    GetConnector: binder.operation<{ configId: string }, unknown>(operation(operations, 'connectors.get'), {
      input: (request) => ({ params: byId.params(request) }),
      output: (result) => toProtoConnector(result as Connector),
    }),
    ListConnectors: binder.operation<{ type: string }, unknown>(operation(operations, 'connectors.list'), {
      input: (request): Partial<OperationInput> => ({ query: request.type ? { type: request.type } : {} }),
      output: (result) => {
        const { items, head } = result as { items: Connector[]; head: number };
        return { items: items.map(toProtoConnector), head };
      },
    }),
    DeleteConnector: binder.operation<{ configId: string }, unknown>(operation(operations, 'connectors.delete'), {
      input: (request) => ({ params: byId.params(request) }),
      output: (result) => ({ revision: (result as DeleteResult).revision }),
    }),
    ResolveConnector: binder.operation<{ configId: string }, unknown>(operation(operations, 'connectors.resolve'), {
      input: (request) => ({ params: byId.params(request) }),
      output: (result) => toProtoResolved(result as ResolvedConnector),
    }),
    WatchChanges: binder.server.serverStream<{ since: number }, unknown>([Scope.READ, Scope.RESOLVE], async (request, write, { signal, principal }) => {
      for await (const change of feed.stream(request.since > 0 ? request.since : undefined, signal, principal)) {
        write(toProtoChange(change));
      }
    }),
  });
}
