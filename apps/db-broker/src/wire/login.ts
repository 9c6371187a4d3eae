import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { hasScope, Scope, type Principal } from '@patchbay/nest';
import type { DatabaseConnection } from '../pools/database-driver';
import { sameSettingValue } from './client-settings';
import {
  AUTH_CLEARTEXT,
  AUTH_OK,
  CANCEL_REQUEST,
  GSSENC_REQUEST,
  PROTOCOL_V3,
  SSL_REQUEST,
  backendKeyData,
  cstring,
  int32,
  message,
  parameterStatus,
  readCString,
  readyForQuery,
  type FrameReader,
  type WireError,
} from './protocol';
import { ScramError, ScramServer } from './scram';
import type { PoolMode, WireContext } from './wire-client';
import { wireErrorOf } from './wire-errors';

/** Parameters a server reports at startup; the client gets the server's (or its own requested) values. */
export const REPORTED_PARAMETERS = [
  'server_version',
  'server_encoding',
  'client_encoding',
  'DateStyle',
  'IntervalStyle',
  'TimeZone',
  'integer_datetimes',
  'standard_conforming_strings',
  'is_superuser',
] as const;

const NOT_SETTINGS = new Set(['user', 'database', 'application_name', 'replication', 'options', 'fallback_application_name']);
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const PASSWORD_MESSAGE = 0x70;
const AUTH_SASL = 10;
const AUTH_SASL_CONTINUE = 11;
const AUTH_SASL_FINAL = 12;
/** Longest password / SASL message accepted during login. */
const MAX_LOGIN_MESSAGE = 10_000;

/** What a client that logged in is served by. */
export interface LoggedIn {
  principal: Principal;
  configId: string;
  connection: DatabaseConnection;
  mode: PoolMode;
  /** Session settings the client asked for at startup (replayed on each server connection). */
  settings: [string, string][];
  /** Writes AuthenticationOk, the parameters, the backend key and the first ReadyForQuery. */
  greet(key: { pid: number; secret: number }): void;
}

/** The wire client the login runs for. */
export interface LoginHost {
  socket(): Socket;
  /** The client asked for TLS: further bytes arrive on `secure`. */
  upgraded(secure: TLSSocket): void;
  fatal(error: WireError): void;
  /** Ends the client without a word (after a cancel request). */
  close(): void;
  closed(): boolean;
  /** The token was accepted and the connector found. */
  loggedIn(result: LoggedIn): void;
}

/**
 * A wire client's login: the startup packet (TLS, GSS and cancel requests, protocol
 * version, parameters), the password exchange, then the token's scope and connector.
 * The database name is the connector's configId, the password a Patchbay token.
 */
export class WireLogin {
  private state: 'startup' | 'password' | 'sasl-first' | 'sasl-final' | 'checking' | 'done' = 'startup';
  private scram: ScramServer | undefined;
  private readonly params = new Map<string, string>();

  constructor(
    private readonly context: WireContext,
    private readonly host: LoginHost,
  ) {}

  /** True until the client's login messages are all read. */
  get reading(): boolean {
    return this.state !== 'checking' && this.state !== 'done';
  }

  /**
   * Consumes the login messages buffered in `reader`.
   * @throws Error on a protocol violation (the caller ends the client with 08P01).
   */
  read(reader: FrameReader): void {
    while (this.reading && !this.host.closed()) {
      if (this.state === 'startup') {
        const packet = reader.nextUntyped();
        if (!packet) return;
        this.startupPacket(packet, reader);
      } else {
        const frame = reader.next(MAX_LOGIN_MESSAGE);
        if (!frame) return;
        if (frame.type !== PASSWORD_MESSAGE) throw new Error(`expected a password message, got '${String.fromCharCode(frame.type)}'`);
        if (this.state === 'password') this.passwordMessage(frame.body);
        else this.saslMessage(frame.body);
      }
    }
  }

  private startupPacket(packet: Buffer, reader: FrameReader): void {
    const socket = this.host.socket();
    const code = packet.readInt32BE(4);
    if (code === SSL_REQUEST) {
      if (!this.context.tls || socket instanceof TLSSocket) {
        socket.write('N');
        return;
      }
      if (reader.buffered > 0) throw new Error('data after SSLRequest');
      socket.write('S');
      this.host.upgraded(new TLSSocket(socket, { isServer: true, secureContext: this.context.tls }));
      return;
    }
    if (code === GSSENC_REQUEST) {
      socket.write('N');
      return;
    }
    if (code === CANCEL_REQUEST && packet.length === 16) {
      this.context.cancel(packet.readInt32BE(8), packet.readInt32BE(12));
      this.state = 'done';
      this.host.close();
      return;
    }
    if (code >> 16 !== 3) {
      this.host.fatal({ severity: 'FATAL', code: '0A000', message: `unsupported frontend protocol ${code >> 16}.${code & 0xffff}: the broker speaks 3.0` });
      return;
    }
    let offset = 8;
    while (offset < packet.length && packet[offset] !== 0) {
      const [name, afterName] = readCString(packet, offset);
      const [value, afterValue] = readCString(packet, afterName);
      this.params.set(name, value);
      offset = afterValue;
    }
    if (code !== PROTOCOL_V3) {
      // Minor versions above 3.0 (libpq 18 may ask for 3.2): answer with the one we speak.
      socket.write(message('v', int32(PROTOCOL_V3), int32(0)));
    }
    if (!this.params.get('database')) {
      this.host.fatal({ severity: 'FATAL', code: '3D000', message: 'no database given: the database name is the configId of a database connector' });
      return;
    }
    const secure = socket instanceof TLSSocket;
    const cleartextAllowed = secure || this.context.plainPasswordsAllowed;
    const tokens = this.context.tokens;
    // Cleartext (over TLS or loopback) serves every token, SCRAM only those configured by value:
    // SCRAM whenever it serves them all, and wherever cleartext is not allowed.
    if (tokens.scram.verifiers.length > 0 && !(cleartextAllowed && tokens.hasTokensWithoutScram)) {
      this.scram = new ScramServer(tokens.scram, secure ? this.context.tlsEndPoint : undefined);
      this.state = 'sasl-first';
      socket.write(message('R', int32(AUTH_SASL), ...this.scram.mechanisms.map(cstring), Buffer.alloc(1)));
      return;
    }
    if (!cleartextAllowed) {
      this.host.fatal({
        severity: 'FATAL',
        code: '28000',
        message: 'the broker accepts a token as password only over TLS: connect with sslmode=require',
      });
      return;
    }
    this.state = 'password';
    socket.write(AUTH_CLEARTEXT);
  }

  /** SASLInitialResponse (mechanism, client-first-message), then SASLResponse (client-final-message). */
  private saslMessage(body: Buffer): void {
    const scram = this.scram as ScramServer;
    try {
      if (this.state === 'sasl-first') {
        const [mechanism, afterMechanism] = readCString(body, 0);
        if (body.length < afterMechanism + 4) throw new Error('SASLInitialResponse without a length');
        const length = body.readInt32BE(afterMechanism);
        const data = length < 0 ? '' : body.toString('utf8', afterMechanism + 4, afterMechanism + 4 + length);
        const serverFirst = scram.start(mechanism, data);
        this.state = 'sasl-final';
        this.host.socket().write(message('R', int32(AUTH_SASL_CONTINUE), Buffer.from(serverFirst)));
        return;
      }
      this.state = 'checking';
      const { principal, serverFinal } = scram.finish(body.toString('utf8'));
      if (!principal) {
        this.wrongPassword(this.context.tokens.hasTokensWithoutScram ? ' (a token configured only by its sha256 logs in over TLS)' : '');
        return;
      }
      this.host.socket().write(message('R', int32(AUTH_SASL_FINAL), Buffer.from(serverFinal)));
      void this.accept(principal);
    } catch (error) {
      if (!(error instanceof ScramError)) throw error;
      this.state = 'done';
      this.host.fatal(error.wire);
    }
  }

  private wrongPassword(hint = ''): void {
    this.host.fatal({
      severity: 'FATAL',
      code: '28P01',
      message: `password authentication failed for database "${this.params.get('database') ?? ''}": the password must be a Patchbay token${hint}`,
    });
  }

  private passwordMessage(body: Buffer): void {
    const [password] = readCString(body, 0);
    this.state = 'checking';
    const principal = this.context.tokens.authenticate(password);
    if (!principal) {
      this.wrongPassword();
      return;
    }
    void this.accept(principal);
  }

  /** The token is valid: checks its scope and the connector, then hands the client over. */
  private async accept(principal: Principal): Promise<void> {
    const configId = this.params.get('database') ?? '';
    if (!hasScope(principal, Scope.USE)) {
      this.host.fatal({ severity: 'FATAL', code: '42501', message: `token '${principal.name}' lacks the 'use' scope` });
      return;
    }
    let connection: DatabaseConnection;
    let defaults: Map<string, string>;
    try {
      connection = this.context.pools.connectionFor(principal, configId);
      defaults = await this.context.serverParams(connection);
    } catch (error) {
      this.host.fatal(wireErrorOf(error, 'FATAL'));
      return;
    }
    if (this.host.closed()) return;
    const reported = new Map<string, string>();
    for (const name of REPORTED_PARAMETERS) {
      const value = defaults.get(name.toLowerCase());
      if (value !== undefined) reported.set(name, value);
    }
    const settings: [string, string][] = [];
    for (const [name, value] of this.params) {
      if (NOT_SETTINGS.has(name)) continue;
      if (!SETTING_NAME.test(name)) {
        this.host.fatal({ severity: 'FATAL', code: '42704', message: `unrecognized configuration parameter "${name}"` });
        return;
      }
      const current = defaults.get(name.toLowerCase());
      if (current !== undefined && sameSettingValue(current, value)) continue;
      settings.push([name, value]);
      const canonical = REPORTED_PARAMETERS.find((p) => p.toLowerCase() === name.toLowerCase());
      if (canonical) reported.set(canonical, value);
    }
    for (const [name, value] of parseOptions(this.params.get('options') ?? '')) {
      if (SETTING_NAME.test(name)) settings.push([name, value]);
    }
    reported.set('application_name', this.params.get('application_name') ?? this.params.get('fallback_application_name') ?? '');
    this.state = 'done';
    this.host.loggedIn({
      principal,
      configId,
      connection,
      mode: connection.spec.settings.poolMode,
      settings,
      greet: (key) => {
        const socket = this.host.socket();
        socket.cork();
        socket.write(AUTH_OK);
        for (const [name, value] of reported) socket.write(parameterStatus(name, value));
        socket.write(backendKeyData(key.pid, key.secret));
        socket.write(readyForQuery('I'));
        socket.uncork();
      },
    });
  }
}

/** `-c name=value` pairs of the startup `options` parameter (backslash escapes a space). */
function parseOptions(options: string): [string, string][] {
  const words = options.match(/(?:\\.|[^\s\\])+/g) ?? [];
  const pairs: [string, string][] = [];
  for (let i = 0; i < words.length; i++) {
    let word = (words[i] as string).replace(/\\(.)/g, '$1');
    if (word === '-c') word = (words[++i] ?? '').replace(/\\(.)/g, '$1');
    else if (word.startsWith('-c')) word = word.slice(2);
    else if (word.startsWith('--')) word = word.slice(2);
    else continue;
    const eq = word.indexOf('=');
    if (eq > 0) pairs.push([word.slice(0, eq).replace(/-/g, '_'), word.slice(eq + 1)]);
  }
  return pairs;
}
