import { CONNECTOR_TYPES, CREDENTIAL_FIELDS } from '@patchbay/core';
import { z } from 'zod';
import { ifMatchRevision, optionalInt, optionalType } from './params';

// Response shapes, for the OpenAPI document (answers are built by the service, not parsed).
const credentialsSet = z.array(z.enum(CREDENTIAL_FIELDS));
const type = z.enum(CONNECTOR_TYPES);
const source = z.enum(['explicit', 'stack', 'env', 'none']);
const credentials = z.object({ apiKey: z.string(), username: z.string(), password: z.string() }).partial();

export const connectorSchema = z.object({
  configId: z.string(),
  type,
  label: z.string(),
  stackId: z.string().optional(),
  url: z.string().optional(),
  options: z.record(z.unknown()),
  members: z
    .array(
      z.object({
        id: z.string(),
        url: z.string().optional(),
        stackId: z.string().optional(),
        transport: z.string().optional(),
        options: z.record(z.unknown()).optional(),
        credentialsSet: credentialsSet.optional(),
      }),
    )
    .optional(),
  credentialsSet,
  revision: z.number().int(),
  checksum: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const resolvedSchema = z.object({
  configId: z.string(),
  type,
  revision: z.number().int(),
  checksum: z.string(),
  mode: z.enum(['local', 'stack']),
  url: z.string().nullable(),
  source,
  headers: z.record(z.string()),
  options: z.record(z.unknown()),
  credentials: credentials.optional(),
  members: z
    .array(
      z.object({
        id: z.string(),
        url: z.string().nullable(),
        source,
        transport: z.string().optional(),
        headers: z.record(z.string()),
        options: z.record(z.unknown()).optional(),
        credentials: credentials.optional(),
      }),
    )
    .optional(),
});

const changeSchema = z.object({
  revision: z.number().int(),
  configId: z.string(),
  type,
  action: z.enum(['upsert', 'delete']),
  checksum: z.string().nullable(),
  at: z.string(),
});

export const changesPageSchema = z.object({ head: z.number().int(), changes: z.array(changeSchema), more: z.boolean() });
export const listSchema = z.object({ items: z.array(connectorSchema), head: z.number().int() });
export const putResultSchema = z.object({ connector: connectorSchema, created: z.boolean(), changed: z.boolean(), warnings: z.array(z.string()) });
export const deleteResultSchema = z.object({ configId: z.string(), revision: z.number().int() });
export const rollbackResultSchema = z.object({ connector: connectorSchema, changed: z.boolean() });
const historyEntrySchema = z.object({
  revision: z.number().int(),
  configId: z.string(),
  action: z.enum(['upsert', 'delete']),
  actor: z.string(),
  at: z.string(),
  checksum: z.string().nullable(),
  snapshot: z.object({}).passthrough().nullable().describe('The connector as of this revision (no secret values); null for a delete'),
  changed: z.array(z.string()).optional(),
  credentialsChanged: z.array(z.string()).optional(),
  fromRevision: z.number().int().optional(),
});
export const historyPageSchema = z.object({ configId: z.string(), revisions: z.array(historyEntrySchema), more: z.boolean() });
export const applyResultSchema = z.object({
  revision: z.number().int(),
  results: z.array(
    z.object({
      configId: z.string(),
      action: z.enum(['created', 'updated', 'unchanged', 'deleted']),
      revision: z.number().int(),
      changed: z.array(z.string()).optional().describe('the fields that change (or would, in a dry run)'),
      credentialsChanged: z.array(z.string()).optional().describe('the secrets that change (paths only, never values)'),
    }),
  ),
  warnings: z.array(z.string()),
  dryRun: z.literal(true).optional(),
});

// Inputs. Query values arrive as strings; the params helpers keep the messages callers know.
const queryInt = (name: string, bounds?: { min?: number; max?: number }) =>
  z
    .string()
    .optional()
    .transform((value) => optionalInt(value, name, bounds));

export const listQuerySchema = z.object({
  type: z
    .string()
    .optional()
    .transform((value) => optionalType(value)),
});
export const historyQuerySchema = z.object({ limit: queryInt('limit', { min: 1, max: 1000 }), before: queryInt('before', { min: 1 }) });
export const changesQuerySchema = z.object({ since: queryInt('since'), limit: queryInt('limit', { min: 1, max: 1000 }) });
export const watchQuerySchema = z.object({ since: queryInt('since') });
export const applyQuerySchema = z.object({ prune: z.enum(['true', 'false']).optional(), dryRun: z.enum(['true', 'false']).optional() });
export const rollbackBodySchema = z
  .object({ revision: z.number().int().min(1).optional(), toRevision: z.number().int().min(1).optional() })
  .refine((body) => (body.revision ?? body.toRevision) !== undefined, {
    message: 'body must be {"revision": N} with N a revision of this connector (see its history)',
  });
/** YAML text, or the parsed JSON document (parseApplyBody checks every entry). */
export const applyBodySchema = z.union([
  z.string().describe('A YAML document: connectors as a list of entries with configId, or a map keyed by configId'),
  z.record(z.unknown()).describe('{"connectors": [{configId, type, ...}, ...]} or {"connectors": {ID: {type, ...}}}'),
]);

export { ifMatchRevision };
