import {
  CREDENTIAL_FIELDS,
  Channel,
  ErrorCode,
  EventType,
  PatchbayError,
  createEnvelope,
  type CreateEnvelopeOptions,
  type ChangesPage,
  type Connector,
  type ConnectorChangedData,
  type ConnectorDeletedData,
  type ConnectorType,
  type Credentials,
  type EnvelopeSource,
  type ResolvedConnector,
} from '@patchbay/core';
import type { SecretBox } from '../crypto/secret-box';
import { connectorChecksum, diffSpecs, type CredentialFingerprinter } from './checksum';
import {
  toConnector,
  toHistoryEntry,
  type AuditAction,
  type ConnectorRow,
  type EncryptedCredentials,
  type HistoryEntry,
  type StoredMember,
  type StoredSpec,
} from './connector.model';
import type { ConnectorRepository } from './connector.repository';
import { parseApplyDocument, parseConnectorBody, type ConnectorInput, type CredentialsInput, type ParsedConnector } from './connector.schema';
import { currentTraceparent } from '@patchbay/nest';
import type { ConnectorCache } from './connector-cache';
import { allowListOf, forbiddenUnlessWritable, maySee, notFoundUnlessVisible, type Caller } from './connector-access';
import type { ConnectorResolver, ResolvableConnector } from './resolver';
import { mergeSecretOptions, optionsView, optionsWithSecrets, type EncryptedOptionMaps } from './secret-options';

export interface ConnectorServiceDeps {
  repository: ConnectorRepository;
  secrets: SecretBox;
  resolver: ConnectorResolver;
  /** Who writes the outbox envelopes, e.g. `{service: 'config-registry', instance: hostname}`. */
  source: EnvelopeSource;
  /** Called after every committed write that changed something (OutboxRelay.kick). */
  onCommitted?: () => void;
  /** Read cache for get/resolve; writes through this service invalidate it. */
  cache?: ConnectorCache;
}

export interface PutOptions {
  /** The revision the caller last saw; 0 = must not exist yet. Mismatch -> CONFLICT. */
  expectedRevision?: number;
  /** Whose allow-list limits the write (FORBIDDEN outside it). */
  caller?: Caller;
}

export interface ApplyOptions {
  /** Delete the connectors the document does not name (only those the caller may see). */
  prune?: boolean;
  caller?: Caller;
  /** Validate and compute what would change, write nothing (`POST /v1/apply?dryRun=true`). */
  dryRun?: boolean;
}

export interface PutResult {
  connector: Connector;
  created: boolean;
  /** False when the body matched the current state: no new revision was written. */
  changed: boolean;
  warnings: string[];
}

export interface DeleteResult {
  configId: string;
  revision: number;
}

export interface RollbackResult {
  connector: Connector;
  changed: boolean;
}

export interface HistoryPage {
  configId: string;
  revisions: HistoryEntry[];
  /** True when older revisions exist (ask again with `before` = the last revision). */
  more: boolean;
}

export type ApplyAction = 'created' | 'updated' | 'unchanged' | 'deleted';

export interface ApplyResult {
  /** The registry's head revision after the apply (unchanged by a dry run). */
  revision: number;
  /** In a dry run, `revision` of an entry is its current one (0 = does not exist yet). */
  // `changed` / `credentialsChanged`: field names and secret paths only, never values.
  results: ({ configId: string; action: ApplyAction; revision: number } & Partial<SpecChanges>)[];
  warnings: string[];
  dryRun?: true;
}

type SpecChanges = ReturnType<typeof diffSpecs>;
const NO_CHANGES: SpecChanges = { changed: [], credentialsChanged: [] };

interface WriteOutcome {
  row: ConnectorRow;
  created: boolean;
  changed: boolean;
  diff?: SpecChanges;
}

const MAX_PAGE = 1000;

function clampLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return fallback;
  return Math.min(MAX_PAGE, Math.max(1, Math.floor(limit)));
}

/**
 * Connector use cases. Every write runs in one transaction that also writes the
 * revision, the audit row and the outbox row, so the bus only ever hears about
 * committed changes (ARCHITECTURE.md section 5, "publish after commit").
 */
export class ConnectorService {
  private readonly repository: ConnectorRepository;
  private readonly secrets: SecretBox;
  private readonly resolver: ConnectorResolver;
  private readonly source: EnvelopeSource;
  private readonly onCommitted: () => void;
  private readonly fingerprint: CredentialFingerprinter;
  private readonly cache: ConnectorCache | undefined;
  private readonly resolved = new WeakMap<ConnectorRow, { withSecrets?: ResolvedConnector; withoutSecrets?: ResolvedConnector }>();

  constructor(deps: ConnectorServiceDeps) {
    this.cache = deps.cache;
    this.repository = deps.repository;
    this.secrets = deps.secrets;
    this.resolver = deps.resolver;
    this.source = deps.source;
    this.onCommitted = deps.onCommitted ?? (() => undefined);
    this.fingerprint = (ciphertext) => this.secrets.fingerprint(this.secrets.decrypt(ciphertext));
  }

  async put(configId: string, body: unknown, actor: string, options: PutOptions = {}): Promise<PutResult> {
    forbiddenUnlessWritable(options.caller, configId);
    const { input, warnings } = parseConnectorBody(configId, body);
    const outcome = await this.writeTransaction(async (repo) => {
      await repo.lockWrites();
      const current = await repo.find(configId);
      this.checkExpected(configId, current, options.expectedRevision);
      return this.write(repo, input, current, actor, 'put');
    });
    if (outcome.changed) this.onCommitted();
    return { connector: toConnector(outcome.row), created: outcome.created, changed: outcome.changed, warnings };
  }

  async get(configId: string, caller?: Caller): Promise<Connector> {
    return toConnector(await this.require(configId, caller));
  }

  async list(filter: { type?: ConnectorType } = {}, caller?: Caller): Promise<Connector[]> {
    const rows = await this.repository.list(filter);
    return (caller?.connectors ? rows.filter((row) => maySee(caller, row.configId)) : rows).map(toConnector);
  }

  async delete(configId: string, actor: string, options: PutOptions = {}): Promise<DeleteResult> {
    forbiddenUnlessWritable(options.caller, configId);
    const revision = await this.writeTransaction(async (repo) => {
      await repo.lockWrites();
      const current = await repo.find(configId);
      if (!current) throw PatchbayError.notFound(`connector "${configId}"`);
      this.checkExpected(configId, current, options.expectedRevision);
      return this.remove(repo, current, actor);
    });
    this.onCommitted();
    return { configId, revision };
  }

  async history(configId: string, options: { limit?: number; before?: number; caller?: Caller } = {}): Promise<HistoryPage> {
    notFoundUnlessVisible(options.caller, configId);
    const limit = clampLimit(options.limit, 50);
    const rows = await this.repository.history(configId, limit + 1, options.before);
    if (rows.length === 0 && options.before === undefined) {
      throw PatchbayError.notFound(`connector "${configId}"`);
    }
    return { configId, revisions: rows.slice(0, limit).map(toHistoryEntry), more: rows.length > limit };
  }

  /**
   * Writes a new revision holding the content (secrets included) of `toRevision`.
   * Works on a deleted connector too, which restores it.
   */
  async rollback(configId: string, toRevision: number, actor: string, caller?: Caller): Promise<RollbackResult> {
    forbiddenUnlessWritable(caller, configId);
    const outcome = await this.writeTransaction(async (repo) => {
      await repo.lockWrites();
      const target = Number.isSafeInteger(toRevision) ? await repo.findRevision(toRevision) : undefined;
      if (!target || target.configId !== configId) {
        throw PatchbayError.notFound(`revision ${toRevision} of connector "${configId}"`);
      }
      if (!target.spec) {
        throw new PatchbayError(ErrorCode.VALIDATION, `revision ${toRevision} deleted connector "${configId}"; roll back to a revision that wrote it`);
      }
      const current = await repo.find(configId);
      return this.commit(repo, configId, target.spec, current, actor, 'rollback', toRevision);
    });
    if (outcome.changed) this.onCommitted();
    return { connector: toConnector(outcome.row), changed: outcome.changed };
  }

  /**
   * Applies many connectors in one transaction. Every entry is validated first; one bad
   * entry fails the whole document and nothing is written. With `prune`, connectors not
   * in the document are deleted.
   */
  async apply(document: unknown, actor: string, options: ApplyOptions = {}): Promise<ApplyResult> {
    const parsed = parseApplyDocument(document);
    return this.applyParsed(parsed.connectors, actor, options);
  }

  /** Same as {@link apply} for entries already validated (the config-file loader). */
  async applyParsed(entries: readonly ParsedConnector[], actor: string, options: ApplyOptions = {}): Promise<ApplyResult> {
    for (const { input } of entries) forbiddenUnlessWritable(options.caller, input.configId);
    if (options.dryRun) return this.planApply(entries, options);
    const { results, anyChange } = await this.writeTransaction(async (repo) => {
      await repo.lockWrites();
      const existing = new Map((await repo.list()).map((row) => [row.configId, row]));
      const results: ApplyResult['results'] = [];
      let anyChange = false;
      for (const { input } of entries) {
        const current = existing.get(input.configId);
        const outcome = await this.write(repo, input, current, actor, 'apply');
        const action: ApplyAction = outcome.created ? 'created' : outcome.changed ? 'updated' : 'unchanged';
        anyChange ||= outcome.changed;
        results.push({ configId: input.configId, action, revision: outcome.row.revision, ...(outcome.diff ?? NO_CHANGES) });
      }
      if (options.prune) {
        const wanted = new Set(entries.map((e) => e.input.configId));
        for (const row of existing.values()) {
          if (wanted.has(row.configId) || !maySee(options.caller, row.configId)) continue;
          const revision = await this.remove(repo, row, actor);
          anyChange = true;
          results.push({ configId: row.configId, action: 'deleted', revision });
        }
      }
      return { results, anyChange };
    });
    if (anyChange) this.onCommitted();
    return {
      revision: await this.repository.headRevision(),
      results,
      warnings: entries.flatMap((e) => e.warnings),
    };
  }

  /**
   * What {@link applyParsed} would do, computed the same way (specs built and sealed, checksums
   * compared, secrets fingerprinted) without a transaction: a dry run burns no revision.
   */
  private async planApply(entries: readonly ParsedConnector[], options: ApplyOptions): Promise<ApplyResult> {
    const [rows, head] = await Promise.all([this.repository.list(), this.repository.headRevision()]);
    const existing = new Map(rows.map((row) => [row.configId, row]));
    const results: ApplyResult['results'] = entries.map(({ input }) => {
      const current = existing.get(input.configId);
      const spec = this.toSpec(input, current?.spec);
      const unchanged = current?.checksum === connectorChecksum(input.configId, spec, this.fingerprint);
      const action: ApplyAction = !current ? 'created' : unchanged ? 'unchanged' : 'updated';
      return { configId: input.configId, action, revision: current?.revision ?? 0, ...diffSpecs(current?.spec, spec, this.fingerprint) };
    });
    if (options.prune) {
      const wanted = new Set(entries.map((e) => e.input.configId));
      for (const row of existing.values()) {
        if (wanted.has(row.configId) || !maySee(options.caller, row.configId)) continue;
        results.push({ configId: row.configId, action: 'deleted', revision: row.revision });
      }
    }
    return { revision: head, results, warnings: entries.flatMap((e) => e.warnings), dryRun: true };
  }

  /** Changes after `since`, of the connectors the caller may see; `head` is the registry's. */
  async changes(since: number, limit?: number, caller?: Caller): Promise<ChangesPage> {
    const max = clampLimit(limit, 500);
    const from = Number.isFinite(since) && since > 0 ? Math.floor(since) : 0;
    const [head, changes] = await Promise.all([this.repository.headRevision(), this.repository.changes(from, max + 1, allowListOf(caller))]);
    return { head, changes: changes.slice(0, max), more: changes.length > max };
  }

  headRevision(): Promise<number> {
    return this.repository.headRevision();
  }

  /** Resolves a connector; secrets are only decrypted when `includeSecrets` is true. */
  async resolve(configId: string, options: { includeSecrets: boolean; caller?: Caller }): Promise<ResolvedConnector> {
    const row = await this.require(configId, options.caller);
    // Rows are immutable and replaced on every change, so an answer computed for a row
    // stays right for as long as that row is the cached one (and dies with it).
    let memo = this.resolved.get(row);
    if (!memo) {
      memo = {};
      this.resolved.set(row, memo);
    }
    const key = options.includeSecrets ? 'withSecrets' : 'withoutSecrets';
    return (memo[key] ??= this.computeResolved(row, options.includeSecrets));
  }

  private computeResolved(row: ConnectorRow, includeSecrets: boolean): ResolvedConnector {
    const options = { includeSecrets };
    const { spec } = row;
    const decrypt = (credentials: EncryptedCredentials | undefined): Credentials | undefined =>
      options.includeSecrets && credentials ? this.decryptAll(credentials) : undefined;
    const withSecretOptions = (plain: Record<string, unknown>, sealed: EncryptedOptionMaps | undefined): Record<string, unknown> =>
      includeSecrets ? optionsWithSecrets(plain, sealed, this.secrets) : optionsView(plain, sealed);
    const input: ResolvableConnector = {
      configId: row.configId,
      type: row.type,
      revision: row.revision,
      checksum: row.checksum,
      options: withSecretOptions(spec.options, spec.secretOptions),
    };
    if (spec.url !== undefined) input.url = spec.url;
    if (spec.stackId !== undefined) input.stackId = spec.stackId;
    const credentials = decrypt(spec.credentials);
    if (credentials) input.credentials = credentials;
    if (spec.members) {
      input.members = spec.members.map((m) => {
        const { credentials: encrypted, secretOptions, ...rest } = m;
        if (rest.options !== undefined || secretOptions !== undefined) rest.options = withSecretOptions(rest.options ?? {}, secretOptions);
        const plain = decrypt(encrypted);
        return plain ? { ...rest, credentials: plain } : rest;
      });
    }
    return this.resolver.resolve(input, options);
  }

  /** Envelope options; the trace of the request that caused the write travels with it. */
  private envelopeOptions(revision: number, at: Date): CreateEnvelopeOptions {
    const traceparent = currentTraceparent();
    return traceparent ? { source: this.source, revision, at, traceparent } : { source: this.source, revision, at };
  }

  /** Forgets cached rows after a change seen elsewhere (the change feed calls this). */
  invalidate(configId?: string): void {
    this.cache?.invalidate(configId);
  }

  /** Every write goes through here so the cache is invalidated before the caller hears back. */
  private async writeTransaction<T>(fn: (repo: ConnectorRepository) => Promise<T>): Promise<T> {
    try {
      return await this.repository.transaction(fn);
    } finally {
      this.cache?.invalidate();
    }
  }

  private async require(configId: string, caller: Caller): Promise<ConnectorRow> {
    notFoundUnlessVisible(caller, configId);
    const row = this.cache ? await this.cache.get(configId, () => this.repository.find(configId)) : await this.repository.find(configId);
    if (!row) throw PatchbayError.notFound(`connector "${configId}"`);
    return row;
  }

  private checkExpected(configId: string, current: ConnectorRow | undefined, expected: number | undefined): void {
    if (expected === undefined) return;
    const actual = current?.revision ?? 0;
    if (actual !== expected) {
      throw new PatchbayError(
        ErrorCode.CONFLICT,
        current
          ? `connector "${configId}" is at revision ${actual}, not ${expected}; fetch it again and retry`
          : `connector "${configId}" does not exist (expected revision ${expected})`,
        { details: { configId, expectedRevision: expected, currentRevision: actual } },
      );
    }
  }

  private decryptAll(credentials: EncryptedCredentials): Credentials {
    const out: Credentials = {};
    for (const field of CREDENTIAL_FIELDS) {
      const value = credentials[field];
      if (value !== undefined) out[field] = this.secrets.decrypt(value);
    }
    return out;
  }

  /** Set = encrypt, null = clear, absent = keep the stored ciphertext. */
  private mergeCredentials(input: CredentialsInput | undefined, stored: EncryptedCredentials | undefined): EncryptedCredentials {
    const out: EncryptedCredentials = {};
    for (const field of CREDENTIAL_FIELDS) {
      const value = input?.[field];
      if (value === null) continue;
      if (value !== undefined) {
        // Keep the old ciphertext when the value is the same, so nothing changes on disk.
        const old = stored?.[field];
        out[field] = old !== undefined && this.secrets.decrypt(old) === value ? old : this.secrets.encrypt(value);
      } else if (stored?.[field] !== undefined) {
        out[field] = stored[field];
      }
    }
    return out;
  }

  private toSpec(input: ConnectorInput, current: StoredSpec | undefined): StoredSpec {
    const spec: StoredSpec = {
      type: input.type,
      label: input.label,
      options: input.options,
      credentials: this.mergeCredentials(input.credentials, current?.credentials),
    };
    const secretOptions = mergeSecretOptions(input.secretOptions, current?.secretOptions, this.secrets);
    if (secretOptions) spec.secretOptions = secretOptions;
    if (input.stackId !== undefined) spec.stackId = input.stackId;
    if (input.url !== undefined) spec.url = input.url;
    if (input.members) {
      spec.members = input.members.map((member) => {
        const stored: StoredMember = { id: member.id };
        if (member.url !== undefined) stored.url = member.url;
        if (member.stackId !== undefined) stored.stackId = member.stackId;
        if (member.transport !== undefined) stored.transport = member.transport;
        if (member.options !== undefined) stored.options = member.options;
        const previous = current?.members?.find((m) => m.id === member.id);
        const memberSecrets = mergeSecretOptions(member.secretOptions, previous?.secretOptions, this.secrets);
        if (memberSecrets) stored.secretOptions = memberSecrets;
        const credentials = this.mergeCredentials(member.credentials, previous?.credentials);
        if (Object.keys(credentials).length > 0) stored.credentials = credentials;
        return stored;
      });
    }
    return spec;
  }

  private write(
    repo: ConnectorRepository,
    input: ConnectorInput,
    current: ConnectorRow | undefined,
    actor: string,
    via: 'put' | 'apply',
  ): Promise<WriteOutcome> {
    return this.commit(repo, input.configId, this.toSpec(input, current?.spec), current, actor, via);
  }

  private async commit(
    repo: ConnectorRepository,
    configId: string,
    spec: StoredSpec,
    current: ConnectorRow | undefined,
    actor: string,
    via: 'put' | 'apply' | 'rollback',
    fromRevision?: number,
  ): Promise<WriteOutcome> {
    const checksum = connectorChecksum(configId, spec, this.fingerprint);
    if (current && current.checksum === checksum) return { row: current, created: false, changed: false };

    const { revision, createdAt } = await repo.insertRevision({ configId, type: spec.type, action: 'upsert', spec, checksum, actor });
    const row = await repo.upsert({ configId, type: spec.type, spec, revision, checksum }, createdAt);
    const action: AuditAction = via === 'rollback' ? 'rollback' : current ? 'update' : 'create';
    const diff = diffSpecs(current?.spec, spec, this.fingerprint);
    await repo.insertAudit({
      revision,
      configId,
      action,
      actor,
      changes: fromRevision === undefined ? { via, ...diff } : { via, ...diff, fromRevision },
    });
    const data: ConnectorChangedData = { configId, type: spec.type, revision, checksum };
    await repo.insertOutbox(Channel.CONFIG, createEnvelope(EventType.CONNECTOR_CHANGED, data, this.envelopeOptions(revision, createdAt)));
    return { row, created: !current, changed: true, diff };
  }

  private async remove(repo: ConnectorRepository, current: ConnectorRow, actor: string): Promise<number> {
    const { configId, type } = current;
    const { revision, createdAt } = await repo.insertRevision({ configId, type, action: 'delete', spec: null, checksum: null, actor });
    await repo.remove(configId);
    await repo.insertAudit({
      revision,
      configId,
      action: 'delete',
      actor,
      changes: { via: 'delete', changed: [], credentialsChanged: [] },
    });
    const data: ConnectorDeletedData = { configId, type, revision };
    await repo.insertOutbox(Channel.CONFIG, createEnvelope(EventType.CONNECTOR_DELETED, data, this.envelopeOptions(revision, createdAt)));
    return revision;
  }
}
