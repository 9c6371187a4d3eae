import {
  AGENT_TRANSPORTS,
  CONFIG_ID_PATTERN,
  CONNECTOR_TYPES,
  CREDENTIAL_FIELDS,
  ErrorCode,
  MEMBER_ID_PATTERN,
  PatchbayError,
  dnsLabelSchema,
  optionsSchemaFor,
  type ConnectorType,
  type CredentialField,
} from '@patchbay/core';
import { z } from 'zod';
import { documentIssues } from './document-guard';
import { splitSecretOptions, type SecretOptionsInput } from './secret-options';

/** A credential field as written: a value sets it, `null` clears it, absent keeps it. */
export type CredentialsInput = Partial<Record<CredentialField, string | null>>;

export interface MemberInput {
  id: string;
  url?: string;
  stackId?: string;
  transport?: string;
  options?: Record<string, unknown>;
  /** `options.env` / `options.headers` of an agent tool, kept apart because they are secrets. */
  secretOptions?: SecretOptionsInput;
  credentials?: CredentialsInput;
}

/** A validated, normalized connector as written by a client (secrets in plain text). */
export interface ConnectorInput {
  configId: string;
  type: ConnectorType;
  label: string;
  stackId?: string;
  url?: string;
  options: Record<string, unknown>;
  secretOptions?: SecretOptionsInput;
  credentials: CredentialsInput;
  members?: MemberInput[];
}

export interface ParsedConnector {
  input: ConnectorInput;
  /** Accepted-but-corrected input, e.g. a password moved out of a database url. */
  warnings: string[];
}

/** One field problem, `path` in dotted form (`options.max`, `members[1].url`). */
export interface ValidationIssue {
  path: string;
  message: string;
}

const credentialValue = z.string().min(1, 'must not be empty (send null to clear it)').max(8192).nullable().optional();
const credentialsSchema = z.object({ apiKey: credentialValue, username: credentialValue, password: credentialValue }).strict();

// Read-only fields of a GET answer: accepted and ignored, so a GET body can be PUT back.
const readOnly = {
  revision: z.unknown().optional(),
  checksum: z.unknown().optional(),
  credentialsSet: z.unknown().optional(),
  createdAt: z.unknown().optional(),
  updatedAt: z.unknown().optional(),
};

const memberSchema = z
  .object({
    id: z.string().regex(MEMBER_ID_PATTERN, `must match ${MEMBER_ID_PATTERN.source}`),
    url: z.string().nullish(),
    stackId: dnsLabelSchema('stackId').nullish(),
    transport: z.string().min(1).nullish(),
    options: z.record(z.unknown()).nullish(),
    credentials: credentialsSchema.nullish(),
    credentialsSet: z.unknown().optional(),
  })
  .strict();

/** The body of `PUT /v1/connectors/:configId` as far as its shape goes (parseConnectorBody checks the rest). */
export const connectorBodySchema = z
  .object({
    configId: z.string().optional(),
    type: z.enum(CONNECTOR_TYPES, {
      errorMap: () => ({ message: `must be one of ${CONNECTOR_TYPES.join(', ')}` }),
    }),
    label: z.string().min(1).max(200).nullish(),
    stackId: dnsLabelSchema('stackId').nullish(),
    url: z.string().min(1).nullish(),
    credentials: credentialsSchema.nullish(),
    options: z.record(z.unknown()).nullish(),
    members: z.array(memberSchema).max(256).nullish(),
    ...readOnly,
  })
  .strict();

type RawConnector = z.infer<typeof connectorBodySchema>;
type RawMember = z.infer<typeof memberSchema>;

function pathOf(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out || '(body)';
}

function zodIssues(error: z.ZodError, prefix: readonly (string | number)[] = []): ValidationIssue[] {
  return error.issues.map((issue) => ({ path: pathOf([...prefix, ...issue.path]), message: issue.message }));
}

/** Builds the VALIDATION error every entry point throws. */
function validationError(what: string, issues: readonly ValidationIssue[]): PatchbayError {
  const shown = issues.slice(0, 20).map((i) => `${i.path}: ${i.message}`);
  const more = issues.length > shown.length ? `; and ${issues.length - shown.length} more` : '';
  return new PatchbayError(ErrorCode.VALIDATION, `${what}: ${shown.join('; ')}${more}`, {
    details: { issues: issues.map((i) => ({ path: i.path, message: i.message })) },
  });
}

interface UrlCheck {
  url?: string;
  movedPassword?: string;
}

/**
 * Database urls must be postgres(ql)://; a password inside one is taken out of the url
 * and returned so it can be stored encrypted in `credentials.password` instead.
 */
function checkUrl(type: ConnectorType, raw: string, path: string, issues: ValidationIssue[]): UrlCheck {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    issues.push({ path, message: 'is not a valid absolute URL' });
    return {};
  }
  if (type === 'database') {
    if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
      issues.push({ path, message: 'must be a postgres:// or postgresql:// URL (postgres://host:5432/dbname)' });
      return {};
    }
    if (!parsed.hostname) {
      issues.push({ path, message: 'must name a host (postgres://host:5432/dbname)' });
      return {};
    }
    if (parsed.password) {
      const movedPassword = decodeURIComponent(parsed.password);
      parsed.password = '';
      return { url: parsed.toString(), movedPassword };
    }
    return { url: raw };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    issues.push({ path, message: 'must be an http:// or https:// URL' });
    return {};
  }
  if (!parsed.hostname) issues.push({ path, message: 'must name a host' });
  return { url: raw };
}

function compactCredentials(raw: z.infer<typeof credentialsSchema> | null | undefined): CredentialsInput {
  const out: CredentialsInput = {};
  if (!raw) return out;
  for (const field of CREDENTIAL_FIELDS) {
    const value = raw[field];
    if (value !== undefined) out[field] = value;
  }
  return out;
}

function applyMovedPassword(check: UrlCheck, credentials: CredentialsInput, where: string, warnings: string[]): void {
  if (check.movedPassword === undefined) return;
  if (credentials.password !== undefined) {
    warnings.push(`${where}: the password in the url was ignored; credentials.password is set explicitly`);
    return;
  }
  credentials.password = check.movedPassword;
  warnings.push(`${where}: the password in the url was moved to credentials.password (stored encrypted, never in the url)`);
}

function agentTransportOf(options: Record<string, unknown> | undefined): string | undefined {
  const value = options?.['transport'];
  return typeof value === 'string' ? value : undefined;
}

function parseOptions(
  type: ConnectorType,
  raw: Record<string, unknown> | null | undefined,
  prefix: readonly (string | number)[],
  issues: ValidationIssue[],
): { options: Record<string, unknown>; secrets: SecretOptionsInput | undefined } {
  const { rest, secrets } = splitSecretOptions(type, raw ?? {}, pathOf(prefix), issues);
  const result = optionsSchemaFor(type).safeParse(rest);
  if (!result.success) {
    issues.push(...zodIssues(result.error, prefix));
    return { options: {}, secrets };
  }
  return { options: result.data, secrets };
}

function parseMember(
  type: ConnectorType,
  raw: RawMember,
  index: number,
  parentOptions: Record<string, unknown>,
  issues: ValidationIssue[],
  warnings: string[],
): MemberInput {
  const where = `members[${index}]`;
  const member: MemberInput = { id: raw.id };
  const parsed = raw.options ? parseOptions(type, raw.options, ['members', index, 'options'], issues) : undefined;
  const options = parsed?.options;
  if (options) member.options = options;
  if (parsed?.secrets) member.secretOptions = parsed.secrets;
  const credentials = compactCredentials(raw.credentials);
  if (raw.stackId) member.stackId = raw.stackId;
  let transport = raw.transport ?? undefined;
  if (type === 'agent_tool') {
    transport ??= agentTransportOf(options) ?? agentTransportOf(parentOptions);
    if (transport !== undefined && !(AGENT_TRANSPORTS as readonly string[]).includes(transport)) {
      issues.push({ path: `${where}.transport`, message: `must be one of ${AGENT_TRANSPORTS.join(', ')}` });
    }
    if (transport === 'stdio') {
      if (raw.url) issues.push({ path: `${where}.url`, message: 'a stdio member takes options.command, not a url' });
      if (!options?.['command'] && !parentOptions['command']) {
        issues.push({ path: `${where}.options.command`, message: 'is required for the stdio transport' });
      }
    }
  }
  if (raw.transport) member.transport = raw.transport;
  if (raw.url) {
    const check = checkUrl(type, raw.url, `${where}.url`, issues);
    if (check.url) member.url = check.url;
    applyMovedPassword(check, credentials, `${where}.url`, warnings);
  }
  if (Object.keys(credentials).length > 0) member.credentials = credentials;
  return member;
}

function parseRaw(configId: string, raw: RawConnector, issues: ValidationIssue[], warnings: string[]): ConnectorInput {
  const type = raw.type;
  const { options, secrets } = parseOptions(type, raw.options, ['options'], issues);
  const credentials = compactCredentials(raw.credentials);
  const input: ConnectorInput = { configId, type, label: raw.label ?? configId, options, credentials };
  if (secrets) input.secretOptions = secrets;
  if (raw.stackId) input.stackId = raw.stackId;

  if (raw.members) {
    if (raw.url) {
      issues.push({ path: 'url', message: 'an array connector has no top-level url; give each member its own url' });
    }
    const seen = new Set<string>();
    input.members = raw.members.map((member, index) => {
      if (seen.has(member.id)) issues.push({ path: `members[${index}].id`, message: `duplicate member id "${member.id}"` });
      seen.add(member.id);
      return parseMember(type, member, index, options, issues, warnings);
    });
    return input;
  }

  if (type === 'agent_tool' && agentTransportOf(options) === 'stdio') {
    if (raw.url) issues.push({ path: 'url', message: 'the stdio transport takes options.command, not a url' });
    if (!options['command']) issues.push({ path: 'options.command', message: 'is required for the stdio transport' });
    return input;
  }
  if (raw.url) {
    const check = checkUrl(type, raw.url, 'url', issues);
    if (check.url) input.url = check.url;
    applyMovedPassword(check, credentials, 'url', warnings);
  }
  if (type === 'llm' && input.url && !/\/v1\/?$/.test(new URL(input.url).pathname)) {
    warnings.push('url: an llm url is usually the OpenAI-compatible base ending in /v1');
  }
  return input;
}

function checkConfigId(configId: unknown, path: string, issues: ValidationIssue[]): configId is string {
  if (typeof configId !== 'string' || !CONFIG_ID_PATTERN.test(configId)) {
    issues.push({
      path,
      message: `must match ${CONFIG_ID_PATTERN.source} (a letter, then letters, digits or _; usable as an env prefix)`,
    });
    return false;
  }
  return true;
}

/** Collects the issues of one entry; returns undefined when it is invalid. */
function tryParse(configId: unknown, body: unknown, issues: ValidationIssue[], warnings: string[]): ConnectorInput | undefined {
  const before = issues.length;
  const ok = checkConfigId(configId, 'configId', issues);
  const unstorable = documentIssues(body);
  if (unstorable.length > 0) {
    issues.push(...unstorable);
    return undefined;
  }
  const result = connectorBodySchema.safeParse(body);
  if (!result.success) {
    issues.push(...zodIssues(result.error));
    return undefined;
  }
  if (result.data.configId !== undefined && result.data.configId !== configId) {
    issues.push({ path: 'configId', message: `"${result.data.configId}" does not match the connector's configId "${String(configId)}"` });
  }
  if (!ok) return undefined;
  const input = parseRaw(configId, result.data, issues, warnings);
  return issues.length === before ? input : undefined;
}

/**
 * Validates a `PUT /v1/connectors/:configId` body. Throws PatchbayError VALIDATION whose
 * message names every bad field and whose `details.issues` lists them.
 *
 * A database url carrying a password is accepted, but the password is moved into
 * `credentials.password` (encrypted at rest) and reported in `warnings`.
 */
export function parseConnectorBody(configId: string, body: unknown): ParsedConnector {
  const issues: ValidationIssue[] = [];
  const warnings: string[] = [];
  const input = tryParse(configId, body, issues, warnings);
  if (!input) throw validationError(`invalid connector "${configId}"`, issues);
  return { input, warnings };
}

/** An apply document: `{connectors: [{configId, ...}, ...]}` or `{connectors: {ID: {...}}}`. */
export interface ApplyDocument {
  connectors: ParsedConnector[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a whole apply document. Every entry is checked; if any is bad, one
 * VALIDATION error names each bad entry (by index and configId) and its fields.
 */
export function parseApplyDocument(document: unknown, what = 'apply document'): ApplyDocument {
  const issues: ValidationIssue[] = [];
  if (!isRecord(document)) {
    throw validationError(`invalid ${what}`, [{ path: '(document)', message: 'must be an object with a "connectors" list or map' }]);
  }
  for (const key of Object.keys(document)) {
    if (key !== 'connectors' && key !== 'version') {
      issues.push({ path: key, message: 'unknown top-level key (expected "connectors")' });
    }
  }
  if (document['version'] !== undefined && document['version'] !== 1) {
    issues.push({ path: 'version', message: 'must be 1 when given' });
  }
  const raw = document['connectors'];
  let entries: { label: string; configId: unknown; body: unknown }[];
  if (Array.isArray(raw)) {
    entries = raw.map((body: unknown, index) => {
      const configId = isRecord(body) ? body['configId'] : undefined;
      return { label: `connectors[${index}]${typeof configId === 'string' ? ` (${configId})` : ''}`, configId, body };
    });
  } else if (isRecord(raw)) {
    entries = Object.entries(raw).map(([configId, body]) => ({ label: `connectors.${configId}`, configId, body }));
  } else if (raw === undefined || raw === null) {
    entries = [];
    if (raw === undefined) issues.push({ path: 'connectors', message: 'is required (a list of connectors or a map keyed by configId)' });
  } else {
    entries = [];
    issues.push({ path: 'connectors', message: 'must be a list of connectors or a map keyed by configId' });
  }

  const parsed: ParsedConnector[] = [];
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const entryIssues: ValidationIssue[] = [];
    const warnings: string[] = [];
    const input = tryParse(entry.configId, entry.body, entryIssues, warnings);
    if (typeof entry.configId === 'string') {
      const first = seen.get(entry.configId);
      if (first) entryIssues.push({ path: 'configId', message: `duplicate of ${first}` });
      else seen.set(entry.configId, entry.label);
    }
    issues.push(...entryIssues.map((i) => ({ path: `${entry.label} ${i.path}`, message: i.message })));
    if (input && entryIssues.length === 0) {
      parsed.push({ input, warnings: warnings.map((w) => `${entry.label} ${w}`) });
    }
  }
  if (issues.length > 0) throw validationError(`invalid ${what}`, issues);
  return { connectors: parsed };
}
