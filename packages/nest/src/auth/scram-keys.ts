import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import type { Principal } from './scopes';

/** Postgres' default `scram_iterations`. */
export const SCRAM_ITERATIONS = 4096;

/** What a SCRAM-SHA-256 server keeps of a password (RFC 5802 section 3), as Postgres stores `SCRAM-SHA-256$<i>:<salt>$<StoredKey>:<ServerKey>`. */
export interface ScramKeys {
  storedKey: Buffer;
  serverKey: Buffer;
}

/** A token's SCRAM keys and who it is. */
export interface ScramVerifier extends ScramKeys {
  principal: Principal;
}

/**
 * The SCRAM verifiers of every token whose value the store was given (not only its hash),
 * all under one salt: a SCRAM server names the salt before the client proves which token
 * it holds, and the wire front's user name is free (it does not pick the token).
 */
export interface ScramVerifiers {
  salt: Buffer;
  iterations: number;
  verifiers: readonly ScramVerifier[];
}

/** StoredKey and ServerKey of `password` (already SASLprep-normalised) under `salt`. */
export function scramKeys(password: string, salt: Buffer, iterations: number): ScramKeys {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return {
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: createHmac('sha256', salted).update('Server Key').digest(),
  };
}

/**
 * True when SASLprep (RFC 4013) leaves `password` unchanged, so clients that normalise it
 * (libpq) and clients that do not (node-postgres) derive the same keys: printable ASCII.
 */
export function saslprepInvariant(password: string): boolean {
  return /^[\x21-\x7e]*$/.test(password);
}
