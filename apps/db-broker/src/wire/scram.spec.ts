import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { Scope, scramKeys, type Principal, type ScramVerifiers } from '@patchbay/nest';
import { ScramError, ScramServer } from './scram';

const alice: Principal = { name: 'alice', scopes: new Set([Scope.USE]) };
const bob: Principal = { name: 'bob', scopes: new Set([Scope.USE]) };

function verifiers(salt: Buffer, passwords: [string, Principal][]): ScramVerifiers {
  return { salt, iterations: 4096, verifiers: passwords.map(([password, principal]) => ({ ...scramKeys(password, salt, 4096), principal })) };
}

/** An RFC 5802 client, written from the RFC, to drive the server. */
function clientFinal(
  password: string,
  gs2: string,
  cbData: Buffer,
  clientFirstBare: string,
  serverFirst: string,
): { message: string; serverSignature: string } {
  const attrs = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]));
  const salted = pbkdf2Sync(password, Buffer.from(attrs.s as string, 'base64'), Number(attrs.i), 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const withoutProof = `c=${Buffer.concat([Buffer.from(gs2), cbData]).toString('base64')},r=${attrs.r}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = createHmac('sha256', storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((byte, i) => byte ^ (signature[i] as number)));
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return { message: `${withoutProof},p=${proof.toString('base64')}`, serverSignature: createHmac('sha256', serverKey).update(authMessage).digest('base64') };
}

describe('ScramServer', () => {
  it("runs RFC 7677's example exchange byte for byte (password pencil)", () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const server = new ScramServer(verifiers(salt, [['pencil', alice]]), undefined, () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0');
    expect(server.start('SCRAM-SHA-256', 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO')).toBe(
      'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    );
    expect(server.finish('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=')).toEqual({
      principal: alice,
      serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
    });
  });

  it('tells tokens apart by the proof alone and refuses a wrong one', () => {
    const keys = verifiers(randomBytes(16), [
      ['alice-token-0123456789', alice],
      ['bob-token-0123456789ab', bob],
    ]);
    const login = (password: string): Principal | undefined => {
      const server = new ScramServer(keys, undefined);
      const serverFirst = server.start('SCRAM-SHA-256', 'n,,n=*,r=abcdef');
      return server.finish(clientFinal(password, 'n,,', Buffer.alloc(0), 'n=*,r=abcdef', serverFirst).message).principal;
    };
    expect(login('bob-token-0123456789ab')).toBe(bob);
    expect(login('alice-token-0123456789')).toBe(alice);
    expect(login('alice-token-012345678')).toBeUndefined();
  });

  it('checks tls-server-end-point channel binding and refuses a downgrade', () => {
    const keys = verifiers(randomBytes(16), [['alice-token-0123456789', alice]]);
    const endPoint = randomBytes(32);
    const server = new ScramServer(keys, endPoint);
    expect(server.mechanisms).toEqual(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
    const gs2 = 'p=tls-server-end-point,,';
    const serverFirst = server.start('SCRAM-SHA-256-PLUS', `${gs2}n=*,r=xyz`);
    expect(server.finish(clientFinal('alice-token-0123456789', gs2, endPoint, 'n=*,r=xyz', serverFirst).message).principal).toBe(alice);

    const other = new ScramServer(keys, endPoint);
    const otherFirst = other.start('SCRAM-SHA-256-PLUS', `${gs2}n=*,r=xyz`);
    expect(() => other.finish(clientFinal('alice-token-0123456789', gs2, randomBytes(32), 'n=*,r=xyz', otherFirst).message)).toThrow(
      /does not match the TLS certificate/,
    );

    expect(() => new ScramServer(keys, endPoint).start('SCRAM-SHA-256', 'y,,n=*,r=xyz')).toThrow(/tampered/);
    expect(() => new ScramServer(keys, undefined).start('SCRAM-SHA-256-PLUS', `${gs2}n=*,r=xyz`)).toThrow(/offers SCRAM-SHA-256$/);
    expect(() => new ScramServer(keys, endPoint).start('SCRAM-SHA-256', `${gs2}n=*,r=xyz`)).toThrow(/selected SCRAM-SHA-256/);
  });

  it('answers malformed messages with 08P01 naming what is wrong', () => {
    const keys = verifiers(randomBytes(16), [['alice-token-0123456789', alice]]);
    const codeOf = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (error) {
        return error instanceof ScramError ? `${error.wire.code} ${error.wire.message}` : 'not a ScramError';
      }
      return undefined;
    };
    expect(codeOf(() => new ScramServer(keys, undefined).start('SCRAM-SHA-256', 'x,,n=*,r=a'))).toMatch(/^08P01 .*GS2 header/);
    expect(codeOf(() => new ScramServer(keys, undefined).start('SCRAM-SHA-256', 'n,a=admin,n=*,r=a'))).toMatch(/^08P01 .*authorization identity/);
    expect(codeOf(() => new ScramServer(keys, undefined).start('SCRAM-SHA-256', 'n,,n=*'))).toMatch(/^08P01 .*client nonce/);
    const server = new ScramServer(keys, undefined);
    const first = server.start('SCRAM-SHA-256', 'n,,n=*,r=abc');
    const nonce = first.split(',')[0] as string;
    expect(codeOf(() => server.finish(`c=biws,${nonce}`))).toMatch(/^08P01 .*client proof/);
    expect(codeOf(() => server.finish(`c=biws,r=abcother,p=${Buffer.alloc(32).toString('base64')}`))).toMatch(/^08P01 .*nonce does not match/);
    expect(codeOf(() => server.finish(`c=biws,${nonce},p=AAAA`))).toMatch(/^08P01 .*32 bytes/);
  });
});
