import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { ErrorCode, PatchbayError } from '@patchbay/core';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Ciphertext format version; the whole value is `pb1:<keyId>:<base64url(iv|ciphertext|tag)>`. */
const FORMAT = 'pb1';

/** One AES-256 key with its id (written into every ciphertext it produces). */
export interface SecretKey {
  id: string;
  key: Buffer;
}

function deriveKeyId(key: Buffer): string {
  // Deterministic, so every replica given the same key writes the same id.
  return 'k' + createHash('sha256').update('patchbay key id\0').update(key).digest('hex').slice(0, 8);
}

/**
 * Encrypts connector credentials at rest with AES-256-GCM. The first key encrypts; every
 * key decrypts (rotation = put the new key first, keep the old ones until re-encrypted).
 */
export class SecretBox {
  private readonly primary: SecretKey;
  private readonly keys = new Map<string, Buffer>();
  private readonly hashKey: Buffer;

  constructor(keys: readonly SecretKey[]) {
    const [primary] = keys;
    if (!primary) throw new PatchbayError(ErrorCode.VALIDATION, 'SecretBox needs at least one key');
    for (const { id, key } of keys) {
      if (key.length !== KEY_BYTES) {
        throw new PatchbayError(ErrorCode.VALIDATION, `secret key "${id}" must be ${KEY_BYTES} bytes, got ${key.length}`);
      }
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
        throw new PatchbayError(ErrorCode.VALIDATION, `secret key id "${id}" must match [A-Za-z0-9_-]{1,32}`);
      }
      this.keys.set(id, key);
    }
    this.primary = primary;
    // A separate key for fingerprints, so the encryption key itself is never used as a MAC key.
    this.hashKey = Buffer.from(hkdfSync('sha256', primary.key, Buffer.alloc(0), 'patchbay credential fingerprint v1', 32));
  }

  /**
   * Builds a box from base64 keys (`PATCHBAY_SECRET_KEY`); the first encrypts. Errors
   * name the variable, never the value.
   */
  static fromBase64(primary: string, previous: readonly string[] = [], variable = 'PATCHBAY_SECRET_KEY'): SecretBox {
    const keys = [primary, ...previous].map((text, index) => {
      const key = Buffer.from(text.trim(), 'base64');
      if (key.length !== KEY_BYTES) {
        const which = index === 0 ? variable : `${variable} (previous key #${index})`;
        throw new PatchbayError(
          ErrorCode.VALIDATION,
          `${which} must be ${KEY_BYTES} random bytes in base64 (e.g. \`openssl rand -base64 32\`); it decodes to ${key.length} bytes`,
        );
      }
      return { id: deriveKeyId(key), key };
    });
    return new SecretBox(keys);
  }

  /** A fresh random key in base64, for dev setups that generate one. */
  static generateKey(): string {
    return randomBytes(KEY_BYTES).toString('base64');
  }

  /** Id of the key that encrypts new values. */
  get keyId(): string {
    return this.primary.id;
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.primary.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const packed = Buffer.concat([iv, body, cipher.getAuthTag()]);
    return `${FORMAT}:${this.primary.id}:${packed.toString('base64url')}`;
  }

  /** Throws PatchbayError INTERNAL with a clear reason; never includes the value. */
  decrypt(ciphertext: string): string {
    const [format, keyId, data, extra] = ciphertext.split(':');
    if (format !== FORMAT || !keyId || !data || extra !== undefined) {
      throw new PatchbayError(ErrorCode.INTERNAL, 'stored secret is not in the expected "pb1:<keyId>:<data>" format');
    }
    const key = this.keys.get(keyId);
    if (!key) {
      throw new PatchbayError(ErrorCode.INTERNAL, `stored secret was encrypted with key "${keyId}", which is not configured (PATCHBAY_SECRET_KEY changed?)`);
    }
    const packed = Buffer.from(data, 'base64url');
    if (packed.length < IV_BYTES + TAG_BYTES) {
      throw new PatchbayError(ErrorCode.INTERNAL, 'stored secret is truncated');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, packed.subarray(0, IV_BYTES));
      decipher.setAuthTag(packed.subarray(packed.length - TAG_BYTES));
      const body = packed.subarray(IV_BYTES, packed.length - TAG_BYTES);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw new PatchbayError(ErrorCode.INTERNAL, `stored secret failed authentication with key "${keyId}" (wrong key or tampered data)`, { cause });
    }
  }

  /**
   * A keyed hash (HMAC-SHA256) of a secret value: equal values give equal fingerprints,
   * but the value can't be recovered or guessed offline without the key.
   */
  fingerprint(value: string): string {
    return createHmac('sha256', this.hashKey).update(value, 'utf8').digest('base64url');
  }
}
