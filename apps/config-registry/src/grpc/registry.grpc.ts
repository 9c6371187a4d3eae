import { ErrorCode, PatchbayError, type Connector, type ConnectorChange, type Credentials, type ResolvedConnector } from '@patchbay/core';
import { Scope, hasScope, type GrpcServer } from '@patchbay/nest';
import { REGISTRY_SERVICE, loadService } from '@patchbay/proto';
import type { ChangeFeed } from '../changes/change-feed';
import type { ConnectorService } from '../connectors/connector.service';
import { optionalType } from '../http/params';

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
  if (present(proto.apiKey)) out.apiKey = proto.apiKey as string;
  if (present(proto.username)) out.username = proto.username as string;
  if (present(proto.password)) out.password = proto.password as string;
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

/** Registers `patchbay.registry.v1.ConnectorRegistry` on a gRPC server. */
export function registerRegistryGrpc(server: GrpcServer, connectors: ConnectorService, feed: ChangeFeed): void {
  const { definition } = loadService('registry', REGISTRY_SERVICE);
  server.addService(definition, {
    PutConnector: server.unary<PutRequest, unknown>([Scope.ADMIN], async (request, { principal }) => {
      const result = await connectors.put(
        request.configId,
        bodyOf(request),
        principal.name,
        request.expectedRevision === undefined ? { caller: principal } : { caller: principal, expectedRevision: request.expectedRevision },
      );
      return { connector: toProtoConnector(result.connector), created: result.created, changed: result.changed };
    }),
    GetConnector: server.unary<{ configId: string }, unknown>([Scope.READ, Scope.RESOLVE], async (request, { principal }) =>
      toProtoConnector(await connectors.get(request.configId, principal)),
    ),
    ListConnectors: server.unary<{ type: string }, unknown>([Scope.READ, Scope.RESOLVE], async (request, { principal }) => {
      const head = await connectors.headRevision();
      const type = optionalType(present(request.type));
      const items = await connectors.list(type ? { type } : {}, principal);
      return { items: items.map(toProtoConnector), head };
    }),
    DeleteConnector: server.unary<{ configId: string }, unknown>([Scope.ADMIN], async (request, { principal }) => {
      const result = await connectors.delete(request.configId, principal.name, { caller: principal });
      return { revision: result.revision };
    }),
    ResolveConnector: server.unary<{ configId: string }, unknown>([Scope.READ, Scope.RESOLVE], async (request, { principal }) =>
      toProtoResolved(
        await connectors.resolve(request.configId, { includeSecrets: hasScope(principal, Scope.RESOLVE), caller: principal }),
      ),
    ),
    WatchChanges: server.serverStream<{ since: number }, unknown>([Scope.READ, Scope.RESOLVE], async (request, write, { signal, principal }) => {
      for await (const change of feed.stream(request.since > 0 ? request.since : undefined, signal, principal)) {
        write(toProtoChange(change));
      }
    }),
  });
}
