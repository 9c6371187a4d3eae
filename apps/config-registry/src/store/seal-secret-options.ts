import type { SecretBox } from '../crypto/secret-box';
import { connectorChecksum } from '../connectors/checksum';
import type { StoredMember, StoredSpec } from '../connectors/connector.model';
import { sealPlainSecretOptions } from '../connectors/secret-options';
import type { SqlClient } from './sql-client';

/** The spec with plain `options.env` / `options.headers` encrypted; undefined when none were plain. */
function sealSpec(spec: StoredSpec, secrets: SecretBox): StoredSpec | undefined {
  let changed = false;
  const out: StoredSpec = { ...spec };
  const top = sealPlainSecretOptions(spec.type, spec.options, secrets);
  if (top) {
    out.options = top.options;
    out.secretOptions = { ...spec.secretOptions, ...top.sealed };
    changed = true;
  }
  if (spec.members) {
    out.members = spec.members.map((member): StoredMember => {
      const sealed = sealPlainSecretOptions(spec.type, member.options, secrets);
      if (!sealed) return member;
      changed = true;
      return { ...member, options: sealed.options, secretOptions: { ...member.secretOptions, ...sealed.sealed } };
    });
  }
  return changed ? out : undefined;
}

/**
 * Migration step: agent tools written before their env and headers were secrets hold
 * them in plain text, in the current row and in every revision (history and rollback
 * read those). Encrypts them in place and recomputes the checksums the same way new
 * writes do, so the row and its revision keep agreeing and an identical PUT stays a no-op.
 */
export async function sealPlainSecretOptionsInStore(tx: SqlClient, secrets: SecretBox): Promise<void> {
  const fingerprint = (ciphertext: string): string => secrets.fingerprint(secrets.decrypt(ciphertext));
  const { rows: current } = await tx.query<{ config_id: string; spec: StoredSpec }>(`SELECT config_id, spec FROM connectors WHERE type = 'agent_tool'`);
  for (const row of current) {
    const sealed = sealSpec(row.spec, secrets);
    if (!sealed) continue;
    await tx.query('UPDATE connectors SET spec = $2::jsonb, checksum = $3 WHERE config_id = $1', [
      row.config_id,
      JSON.stringify(sealed),
      connectorChecksum(row.config_id, sealed, fingerprint),
    ]);
  }
  const { rows: revisions } = await tx.query<{ revision: number | string; config_id: string; spec: StoredSpec }>(
    `SELECT revision, config_id, spec FROM revisions WHERE type = 'agent_tool' AND spec IS NOT NULL`,
  );
  for (const row of revisions) {
    const sealed = sealSpec(row.spec, secrets);
    if (!sealed) continue;
    await tx.query('UPDATE revisions SET spec = $2::jsonb, checksum = $3 WHERE revision = $1', [
      row.revision,
      JSON.stringify(sealed),
      connectorChecksum(row.config_id, sealed, fingerprint),
    ]);
  }
}
