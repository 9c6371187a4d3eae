import { createHash, X509Certificate } from 'node:crypto';

/** Hash of the certificate's signature algorithm (RFC 5929 section 4.1: MD5 and SHA-1 become SHA-256). */
const HASH_OF_SIGNATURE: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'sha256',
  '1.2.840.113549.1.1.5': 'sha256',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha256',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/** Reads a DER tag + length at `at`; returns where the contents start and how long they are. */
function derHeader(der: Buffer, at: number, tag: number): { start: number; length: number } {
  if (der[at] !== tag) throw new Error(`certificate: expected DER tag ${tag} at ${at}`);
  let length = der[at + 1] as number;
  let start = at + 2;
  if (length >= 0x80) {
    const bytes = length & 0x7f;
    if (bytes < 1 || bytes > 4) throw new Error('certificate: bad DER length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[start + i] as number);
    start += bytes;
  }
  return { start, length };
}

function oidText(bytes: Buffer): string {
  const parts = [Math.floor((bytes[0] as number) / 40), (bytes[0] as number) % 40];
  let value = 0;
  for (const byte of bytes.subarray(1)) {
    value = value * 128 + (byte & 0x7f);
    if (byte < 0x80) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/**
 * The `tls-server-end-point` channel binding data of a PEM certificate (RFC 5929): its DER
 * hashed with the hash of its signature algorithm, as Postgres computes it for
 * SCRAM-SHA-256-PLUS. Undefined for algorithms without one (Ed25519, RSA-PSS), where
 * Postgres offers no channel binding either.
 */
export function tlsServerEndPoint(certPem: Buffer | string): Buffer | undefined {
  const der = new X509Certificate(certPem).raw;
  // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, ... }, ... }
  const outer = derHeader(der, 0, 0x30);
  const tbs = derHeader(der, outer.start, 0x30);
  const algorithm = derHeader(der, tbs.start + tbs.length, 0x30);
  const oid = derHeader(der, algorithm.start, 0x06);
  const hash = HASH_OF_SIGNATURE[oidText(der.subarray(oid.start, oid.start + oid.length))];
  return hash === undefined ? undefined : createHash(hash).update(der).digest();
}
