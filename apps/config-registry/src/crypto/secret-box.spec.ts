import { randomBytes } from 'node:crypto';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { SecretBox } from './secret-box';

const key = (): string => randomBytes(32).toString('base64');

describe('SecretBox', () => {
  it('round-trips a value and never leaves the plaintext in the ciphertext', () => {
    const box = SecretBox.fromBase64(key());
    const sealed = box.encrypt('sk-live-123456');
    expect(sealed).not.toContain('sk-live-123456');
    expect(sealed.startsWith(`pb1:${box.keyId}:`)).toBe(true);
    expect(box.decrypt(sealed)).toBe('sk-live-123456');
  });

  it('uses a fresh IV per value', () => {
    const box = SecretBox.fromBase64(key());
    expect(box.encrypt('same')).not.toBe(box.encrypt('same'));
  });

  it('decrypts values written under a previous key after rotation', () => {
    const oldKey = key();
    const sealed = SecretBox.fromBase64(oldKey).encrypt('hunter2');
    const rotated = SecretBox.fromBase64(key(), [oldKey]);
    expect(rotated.decrypt(sealed)).toBe('hunter2');
    expect(rotated.encrypt('x').split(':')[1]).toBe(rotated.keyId);
  });

  it('fails clearly with an unknown key, a wrong key or tampered data', () => {
    const box = SecretBox.fromBase64(key());
    const other = SecretBox.fromBase64(key());
    const sealed = box.encrypt('secret');
    expect(() => other.decrypt(sealed)).toThrow(/not configured/);
    const forged = `pb1:${other.keyId}:${sealed.split(':')[2]}`;
    expect(() => other.decrypt(forged)).toThrow(/failed authentication/);
    const data = Buffer.from(sealed.split(':')[2]!, 'base64url');
    data[14] = data[14]! ^ 1;
    expect(() => box.decrypt(`pb1:${box.keyId}:${data.toString('base64url')}`)).toThrow(/failed authentication/);
    expect(() => box.decrypt('plain')).toThrow(/expected "pb1/);
  });

  it('rejects a key that is not 32 bytes, naming the variable but not the value', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    let error: unknown;
    try {
      SecretBox.fromBase64(short);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PatchbayError);
    expect((error as PatchbayError).code).toBe(ErrorCode.VALIDATION);
    expect((error as PatchbayError).message).toContain('PATCHBAY_SECRET_KEY');
    expect((error as PatchbayError).message).not.toContain(short);
  });

  it('fingerprints equal values equally, differently per key, without revealing them', () => {
    const box = SecretBox.fromBase64(key());
    expect(box.fingerprint('a')).toBe(box.fingerprint('a'));
    expect(box.fingerprint('a')).not.toBe(box.fingerprint('b'));
    expect(SecretBox.fromBase64(key()).fingerprint('a')).not.toBe(box.fingerprint('a'));
  });
});
