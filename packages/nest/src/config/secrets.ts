import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface SecretSettingInput {
  variable: string;
  value: string | undefined;
  production: boolean;
  dataDir: string;
  /** File name under the data dir used in development. */
  file: string;
  generate: 'token' | 'key';
  /** Problems are appended here (names only). */
  problems: string[];
}

/**
 * The rule for the admin token and the secret key: a value from the environment wins;
 * blank in production refuses to boot; in development a value is generated once and
 * kept (mode 0600) in the data dir so every local service and restart shares it.
 */
export function resolveSecretSetting(input: SecretSettingInput): { value: string | undefined; file: string | undefined } {
  if (input.value !== undefined && input.value.trim() !== '') return { value: input.value.trim(), file: undefined };
  if (input.production) {
    input.problems.push(`${input.variable}: required when NODE_ENV=production`);
    return { value: undefined, file: undefined };
  }
  const path = join(input.dataDir, input.file);
  if (existsSync(path)) {
    const stored = readFileSync(path, 'utf8').trim();
    if (stored !== '') return { value: stored, file: path };
  }
  mkdirSync(input.dataDir, { recursive: true });
  const generated = input.generate === 'token' ? `pb_admin_${randomBytes(24).toString('base64url')}` : randomBytes(32).toString('base64');
  try {
    // `wx` fails if another service created it in the meantime: then read theirs.
    writeFileSync(path, `${generated}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    return { value: generated, file: path };
  } catch {
    return { value: readFileSync(path, 'utf8').trim(), file: path };
  }
}
