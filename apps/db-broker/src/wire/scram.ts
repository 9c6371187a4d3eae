import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal, ScramVerifiers } from '@patchbay/nest';
import type { WireError } from './protocol';

const SCRAM_SHA_256 = 'SCRAM-SHA-256';
const SCRAM_SHA_256_PLUS = 'SCRAM-SHA-256-PLUS';

/** A client message the exchange cannot go on with. */
export class ScramError extends Error {
  constructor(readonly wire: WireError) {
    super(wire.message);
  }
}

function malformed(what: string): ScramError {
  return new ScramError({ severity: 'FATAL', code: '08P01', message: `malformed SCRAM message: ${what}` });
}

function channelBindingError(what: string): ScramError {
  return new ScramError({ severity: 'FATAL', code: '28000', message: `SCRAM channel binding negotiation failed: ${what}` });
}

/** `name=value` attributes of a SCRAM message, in order (values may hold `=`, never `,`). */
function attributes(text: string): [string, string][] {
  return text.split(',').map((part) => {
    if (!/^[A-Za-z]=/.test(part)) throw malformed(`expected an attribute, got "${part.slice(0, 20)}"`);
    return [part[0] as string, part.slice(2)];
  });
}

const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;

/**
 * The server side of one SCRAM-SHA-256(-PLUS) login (RFC 5802, RFC 7677), the way
 * Postgres' auth-scram.c runs it: the user name in the messages is ignored, no authzid,
 * channel binding `tls-server-end-point` over TLS. The proof is checked against every
 * token's verifier, in constant time, since the token is what says who the client is.
 */
export class ScramServer {
  private clientFirstBare = '';
  private serverFirst = '';
  private gs2Header = '';
  private nonce = '';

  /**
   * @param endPoint the TLS certificate's channel binding data when the client is on TLS (offers -PLUS).
   * @param serverNonce the server's part of the nonce (fixed only to check RFC 7677's example).
   */
  constructor(
    private readonly keys: ScramVerifiers,
    private readonly endPoint: Buffer | undefined,
    private readonly serverNonce: () => string = () => randomBytes(18).toString('base64'),
  ) {}

  /** Mechanisms for AuthenticationSASL, preferred first. */
  get mechanisms(): string[] {
    return this.endPoint ? [SCRAM_SHA_256_PLUS, SCRAM_SHA_256] : [SCRAM_SHA_256];
  }

  /**
   * Takes the client-first-message; returns the server-first-message.
   * @throws ScramError on a malformed message or a channel binding mismatch.
   */
  start(mechanism: string, clientFirst: string): string {
    if (!this.mechanisms.includes(mechanism)) {
      throw new ScramError({
        severity: 'FATAL',
        code: '28000',
        message: `the client selected SASL mechanism "${mechanism}": the broker offers ${this.mechanisms.join(', ')}`,
      });
    }
    const match = /^(n|y|p=([^,]*)),([^,]*),(.*)$/s.exec(clientFirst);
    if (!match) throw malformed('expected a GS2 header (n, y or p=...)');
    const [, flag, cbName, authzid, bare] = match as unknown as [string, string, string | undefined, string, string];
    if (authzid !== '') throw malformed('an authorization identity is not supported');
    if (flag.startsWith('p')) {
      if (mechanism !== SCRAM_SHA_256_PLUS) throw channelBindingError('the client asks for channel binding but selected SCRAM-SHA-256');
      if (cbName !== 'tls-server-end-point') throw channelBindingError(`unsupported channel binding type "${cbName}": use tls-server-end-point`);
    } else if (mechanism === SCRAM_SHA_256_PLUS) {
      throw channelBindingError('the client selected SCRAM-SHA-256-PLUS without channel binding data');
    } else if (flag === 'y' && this.endPoint) {
      // RFC 5802 section 6: the server does support it, so someone stripped -PLUS from the offer.
      throw channelBindingError('the client thinks the broker cannot bind the channel, but it can: the mechanism list was tampered with');
    }
    const attrs = attributes(bare);
    const user = attrs[0];
    const nonce = attrs[1];
    if (user?.[0] !== 'n') throw malformed('expected the user name attribute "n"');
    if (nonce?.[0] !== 'r' || !PRINTABLE_NONCE.test(nonce[1])) throw malformed('expected a printable client nonce "r"');
    this.gs2Header = `${flag},${authzid},`;
    this.clientFirstBare = bare;
    this.nonce = nonce[1] + this.serverNonce();
    this.serverFirst = `r=${this.nonce},s=${this.keys.salt.toString('base64')},i=${this.keys.iterations}`;
    return this.serverFirst;
  }

  /**
   * Takes the client-final-message; returns the principal of the token the proof is for
   * (undefined when it fits none: wrong password) and the server-final-message.
   * @throws ScramError on a malformed message or channel binding data that does not match.
   */
  finish(clientFinal: string): { principal: Principal | undefined; serverFinal: string } {
    const proofAt = clientFinal.lastIndexOf(',p=');
    if (proofAt < 0) throw malformed('expected the client proof "p"');
    const withoutProof = clientFinal.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    const binding = attrs[0];
    const nonce = attrs[1];
    if (binding?.[0] !== 'c') throw malformed('expected the channel binding attribute "c"');
    const expected = Buffer.concat([Buffer.from(this.gs2Header), this.gs2Header.startsWith('p') ? (this.endPoint as Buffer) : Buffer.alloc(0)]);
    if (!equalBytes(Buffer.from(binding[1], 'base64'), expected)) throw channelBindingError('the channel binding data does not match the TLS certificate');
    if (nonce?.[0] !== 'r' || nonce[1] !== this.nonce) throw malformed('the nonce does not match');
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
    if (proof.length !== 32) throw malformed('the client proof must be 32 bytes');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    let found: { principal: Principal; serverKey: Buffer } | undefined;
    // Every verifier is tried, so timing does not tell which token (or whether any) matched.
    for (const verifier of this.keys.verifiers) {
      const signature = hmac(verifier.storedKey, authMessage);
      const clientKey = Buffer.alloc(32);
      for (let i = 0; i < 32; i++) clientKey[i] = (proof[i] as number) ^ (signature[i] as number);
      const matches = timingSafeEqual(createHash('sha256').update(clientKey).digest(), verifier.storedKey);
      if (matches && found === undefined) found = verifier;
    }
    if (!found) return { principal: undefined, serverFinal: 'e=invalid-proof' };
    return { principal: found.principal, serverFinal: `v=${hmac(found.serverKey, authMessage).toString('base64')}` };
  }
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

function equalBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
