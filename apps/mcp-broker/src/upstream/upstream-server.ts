import type { LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import { ConnectionState, type CircuitBreaker } from '@patchbay/core';
import type { ManagedConnection } from '@patchbay/nest';
import type { AgentToolDriver } from './agent-tool-driver';
import { EMPTY_CATALOG, type Catalog } from './catalog';
import type { DownstreamPeer } from './peer-sessions';
import type { ServerSpec } from './server-spec';
import { serverUnavailable } from './upstream-errors';
import type { CallOptions, UpstreamHandle } from './upstream-handle';

/**
 * One upstream MCP server as the endpoint sees it: a managed connection of the broker
 * runtime (which owns its lifecycle, breaker and swaps) plus the calls MCP offers.
 */
export class UpstreamServer {
  constructor(
    readonly connection: ManagedConnection<ServerSpec, UpstreamHandle>,
    private readonly driver: AgentToolDriver,
  ) {}

  get id(): string {
    return this.connection.id;
  }

  /** The spec new calls run with. */
  get spec(): ServerSpec {
    return this.connection.spec;
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  get breaker(): CircuitBreaker {
    return this.connection.breaker;
  }

  /** What the server offers, as listed on the handle in service. */
  get catalog(): Catalog {
    return this.driver.current(this.id)?.catalog.current ?? EMPTY_CATALOG;
  }

  /** Calls an upstream tool by its upstream name. */
  callTool(name: string, args: Record<string, unknown> | undefined, options: CallOptions = {}): Promise<unknown> {
    const params: Record<string, unknown> = { name };
    if (args !== undefined) params.arguments = args;
    return this.request('tools/call', params, options);
  }

  readResource(uri: string, options: CallOptions = {}): Promise<unknown> {
    return this.request('resources/read', { uri }, options);
  }

  getPrompt(name: string, args: Record<string, string> | undefined, options: CallOptions = {}): Promise<unknown> {
    const params: Record<string, unknown> = { name };
    if (args !== undefined) params.arguments = args;
    return this.request('prompts/get', params, options);
  }

  /** What the server offers one downstream peer, on the peer's own session (opened if needed). */
  peerCatalog(peer: DownstreamPeer): Promise<Catalog> {
    const handle = this.driver.current(this.id);
    return handle ? handle.peers.catalog(peer) : Promise.resolve(EMPTY_CATALOG);
  }

  /** Closes the upstream sessions bound to a downstream session that ended (stateful, and its peer's). */
  release(sessionKey: string): void {
    const handle = this.driver.current(this.id);
    handle?.pool.release(sessionKey);
    handle?.peers.release(sessionKey);
  }

  /** Sets the log level on the peer's own session of this server, if open. */
  setPeerLogLevel(key: string, level: LoggingLevel): Promise<void> {
    return this.driver.current(this.id)?.peers.setLogLevel(key, level) ?? Promise.resolve();
  }

  /** Sends any other request a client may make (completion, subscriptions) to the server. */
  relay(method: string, params: Record<string, unknown>, options: CallOptions = {}): Promise<unknown> {
    return this.request(method, params, options);
  }

  private request(method: string, params: Record<string, unknown>, options: CallOptions): Promise<unknown> {
    const state = this.state;
    // Said in MCP terms (and with the way back for a dead one) rather than the runtime's gate.
    if (state === ConnectionState.RETRYING || state === ConnectionState.DEAD || state === ConnectionState.CLOSED) {
      return Promise.reject(serverUnavailable(this.id, state));
    }
    const use = options.signal ? { signal: options.signal } : {};
    return this.connection.use((handle) => handle.request(method, params, options), use);
  }
}
