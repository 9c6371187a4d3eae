import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { TokenStore } from '@patchbay/nest';
import type { Logger } from 'pino';
import type { DatabaseBroker, DatabaseConnection } from '../pools/database-driver';
import { withLease } from '../pools/leased';
import { forwardCancel } from './forward-cancel';
import { tlsServerEndPoint } from './tls-end-point';
import { REPORTED_PARAMETERS } from './login';
import { WireClient, type WireContext } from './wire-client';

/** Where and how the wire front listens (from the environment). */
export interface WireSettings {
  /** 0 = no wire front. */
  port: number;
  host: string;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
}

/**
 * Reads the wire front's variables. Without TLS it binds loopback unless told otherwise.
 * @throws Error naming the variable when only one of the TLS files is set.
 */
export function wireSettingsFromEnv(
  env: {
    PATCHBAY_DB_WIRE_PORT: number;
    PATCHBAY_DB_WIRE_HOST?: string | undefined;
    PATCHBAY_DB_WIRE_TLS_CERT?: string | undefined;
    PATCHBAY_DB_WIRE_TLS_KEY?: string | undefined;
  },
  serviceHost: string,
): WireSettings {
  const cert = env.PATCHBAY_DB_WIRE_TLS_CERT;
  const key = env.PATCHBAY_DB_WIRE_TLS_KEY;
  if ((cert === undefined) !== (key === undefined)) {
    throw new Error(`${cert === undefined ? 'PATCHBAY_DB_WIRE_TLS_CERT' : 'PATCHBAY_DB_WIRE_TLS_KEY'}: set both TLS files of the wire front or neither`);
  }
  return { port: env.PATCHBAY_DB_WIRE_PORT, host: env.PATCHBAY_DB_WIRE_HOST ?? (cert ? serviceHost : '127.0.0.1'), tlsCert: cert, tlsKey: key };
}

/** Wire clients of one connector, for the status route and the gauges. */
export interface WireFigures {
  clients: number;
  /** Clients waiting for a server connection. */
  waiting: number;
  /** Server connections lent to wire clients now. */
  serverConnections: number;
}

/** Session defaults read from a connector's server, beside the reported parameters: startup values equal to them cost no SET. */
const COMPARED_SETTINGS = ['extra_float_digits', 'search_path', 'statement_timeout', 'lc_messages', 'bytea_output'];

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * The Postgres wire front (`PATCHBAY_DB_WIRE_PORT`): `postgres://<any>:<token>@host:port/<configId>`.
 */
export class WireServer {
  private readonly server: Server;
  private readonly clients = new Map<number, { client: WireClient; secret: number }>();
  private readonly byClient = new Map<WireClient, number>();
  private readonly params = new Map<string, Promise<Map<string, string>>>();
  private readonly tls: SecureContext | undefined;
  private readonly tlsEndPoint: Buffer | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;

  constructor(
    private readonly settings: WireSettings,
    private readonly pools: DatabaseBroker,
    private readonly tokens: TokenStore,
    private readonly logger: Logger,
  ) {
    const cert = settings.tlsCert ? readFileSync(settings.tlsCert) : undefined;
    this.tls = cert && settings.tlsKey ? createSecureContext({ cert, key: readFileSync(settings.tlsKey) }) : undefined;
    this.tlsEndPoint = cert && this.tls ? tlsServerEndPoint(cert) : undefined;
    const context: WireContext = {
      pools,
      tokens,
      logger,
      tls: this.tls,
      tlsEndPoint: this.tlsEndPoint,
      plainPasswordsAllowed: isLoopback(settings.host),
      serverParams: (connection) => this.serverParams(connection),
      register: (client) => this.register(client),
      unregister: (client) => this.unregister(client),
      cancel: (pid, secret) => this.cancel(pid, secret),
    };
    // Paused: WireClient moves the connection to a socket of its own before anything is read.
    this.server = createServer({ pauseOnConnect: true }, (accepted) => {
      const socket = new WireClient(accepted, context).socket;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** `postgres://<host>:<port>/<configId>` for the listening log line. */
  get url(): string {
    const host = this.settings.host.includes(':') ? `[${this.settings.host}]` : this.settings.host;
    return `postgres://${host}:${this.boundPort}/<configId>`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.settings.port, this.settings.host, () => resolve());
    });
    const address = this.server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : this.settings.port;
    if (!this.tls && !isLoopback(this.settings.host)) {
      const scramOnly = this.tokens.scram.verifiers.length > 0;
      this.logger.warn(
        { host: this.settings.host },
        scramOnly
          ? 'wire front without TLS on a non-loopback address: only SCRAM-SHA-256 logins, with tokens configured by value (set PATCHBAY_DB_WIRE_TLS_CERT/_KEY for the others)'
          : 'wire front without TLS on a non-loopback address: every login is refused (set PATCHBAY_DB_WIRE_TLS_CERT/_KEY)',
      );
    }
  }

  /** Wire clients per connector. */
  figures(): Map<string, WireFigures> {
    const out = new Map<string, WireFigures>();
    for (const client of this.byClient.keys()) {
      const f = out.get(client.configId) ?? { clients: 0, waiting: 0, serverConnections: 0 };
      f.clients++;
      if (client.waiting) f.waiting++;
      if (client.hasServer) f.serverConnections++;
      out.set(client.configId, f);
    }
    return out;
  }

  figuresOf(configId: string): WireFigures {
    return this.figures().get(configId) ?? { clients: 0, waiting: 0, serverConnections: 0 };
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const client of [...this.byClient.keys()]) client.close();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private register(client: WireClient): { pid: number; secret: number } {
    let pid = randomInt(1, 2 ** 31 - 1);
    while (this.clients.has(pid)) pid = randomInt(1, 2 ** 31 - 1);
    const secret = randomInt(-(2 ** 31), 2 ** 31 - 1);
    this.clients.set(pid, { client, secret });
    this.byClient.set(client, pid);
    return { pid, secret };
  }

  private unregister(client: WireClient): void {
    const pid = this.byClient.get(client);
    if (pid === undefined) return;
    this.byClient.delete(client);
    this.clients.delete(pid);
  }

  private cancel(pid: number, secret: number): void {
    const entry = this.clients.get(pid);
    if (!entry || entry.secret !== secret) return;
    entry.client.cancelRunning((target, serverPid, serverSecret) =>
      forwardCancel(target, serverPid, serverSecret, (reason) => this.logger.warn({ reason }, 'forwarding a cancel request failed')),
    );
  }

  /** Session defaults of the connector's server, read once per pool spec (a URL change reads them again). */
  private serverParams(connection: DatabaseConnection): Promise<Map<string, string>> {
    const key = connection.spec.fingerprint;
    let params = this.params.get(key);
    if (!params) {
      const names = [...REPORTED_PARAMETERS, ...COMPARED_SETTINGS];
      params = withLease(
        connection,
        async (lease) => {
          const result = await lease.client.query<{ n: string; v: string | null }>('SELECT n, current_setting(n, true) AS v FROM unnest($1::text[]) AS n', [
            names,
          ]);
          return new Map(result.rows.flatMap((row) => (row.v === null ? [] : [[row.n.toLowerCase(), row.v] as [string, string]])));
        },
        { timeoutCounts: false },
      );
      this.params.set(key, params);
      params.catch(() => this.params.delete(key));
    }
    return params;
  }
}
