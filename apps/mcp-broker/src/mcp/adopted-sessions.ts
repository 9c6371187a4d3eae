import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isJSONRPCErrorResponse, isJSONRPCResultResponse, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { sendJson, type Principal } from '@patchbay/nest';
import type { ServerManager } from '../upstream/server-manager';
import type { SessionAnswers } from './session-answers';
import type { SessionEvents } from './session-events';
import type { SessionRelay } from './session-relay';
import type { SessionServers } from './session-server';
import type { SessionStore } from './session-store';

/** How soon a client resumes again after a replay here, when no polling interval is set. */
const REPLAY_RETRY_MS = 1000;

export interface AdoptedRequest {
  req: IncomingMessage;
  res: ServerResponse;
  principal: Principal;
  body: unknown;
  virtual: string | undefined;
}

/**
 * Requests of 2025-era sessions another replica opened (behind a load balancer without
 * affinity, or after that replica went away). The session's record in the store names its
 * token, endpoint and the client's `initialize`; each request gets a server that has seen
 * that `initialize` (replayed in memory, so it knows the client's capabilities) on a
 * transport of its own. What such a replica cannot do: push to the client between requests
 * (list_changed, resource updates and logs outside a call reach it only on the replica that
 * holds its GET stream), and continue upstream state kept per session in processes of the
 * other replica (stateful stdio servers and peer sessions start afresh here).
 */
export class AdoptedSessions {
  /** Adopted sessions this replica holds upstream sessions for (peers, stateful servers), by last use. */
  private readonly held = new Map<string, number>();
  /** Transports of adopted sessions' requests still open here, latest last: the client's answers to what they asked go to them. */
  private readonly live = new Map<string, StreamableHTTPServerTransport[]>();

  /** Relays of adopted sessions' requests open here: upstream notifications reach them meanwhile. */
  private readonly relays = new Set<{ relay: SessionRelay; principal: Principal }>();

  constructor(
    private readonly store: SessionStore,
    private readonly events: SessionEvents,
    private readonly answers: SessionAnswers,
    private readonly servers: SessionServers,
    private readonly manager: ServerManager,
    private readonly settings: { jsonResponse: boolean; idleMs: number; ssePollMs: number },
  ) {}

  /**
   * Serves the request if the store knows the session for this token and endpoint.
   * @returns false when it does not (the caller answers 404).
   * @throws PatchbayError UNAVAILABLE when the store cannot be read.
   */
  async serve(request: AdoptedRequest, id: string): Promise<boolean> {
    const record = await this.store.load(id).catch((error: unknown) => {
      throw new PatchbayError(ErrorCode.UNAVAILABLE, `MCP session store unreachable: ${error instanceof Error ? error.message : String(error)}`, {
        retryAfterSeconds: 1,
      });
    });
    if (!record || record.token !== request.principal.name || record.virtual !== (request.virtual ?? null)) return false;
    const { req, res } = request;
    if (req.method === 'DELETE') {
      await this.store.remove(id).catch(() => undefined);
      this.release(id);
      res.writeHead(200).end();
      return true;
    }
    const lastEventId = req.headers['last-event-id'];
    if (req.method === 'GET' && typeof lastEventId === 'string' && this.events.shared) return this.replay(request, id, lastEventId);
    if (req.method !== 'POST') {
      // Its stream of server-initiated messages lives on the replica that opened it.
      sendJson(
        res,
        405,
        JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Method not allowed: this replica serves the session’s POSTs only' } }),
        {
          allow: 'POST, DELETE',
        },
      );
      return true;
    }
    void this.store.touch(id, this.settings.idleMs).catch(() => undefined);
    this.held.set(id, Date.now());
    const answers = responsesIn(request.body);
    if (answers) {
      // The client answers a request (sampling, elicitation, roots) made on one of its open requests here.
      const waiting = this.live.get(id)?.at(-1);
      if (!waiting && this.answers.shared) {
        // Asked on another replica: it takes them from the channel.
        await this.answers.publish(id, answers);
        res.writeHead(202).end();
        return true;
      }
      if (!waiting) {
        sendJson(
          res,
          409,
          JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'no request of this session is waiting on this replica' } }),
        );
        return true;
      }
      for (const answer of answers) waiting.onmessage?.(answer);
      res.writeHead(202).end();
      return true;
    }
    const { server, relay } = this.servers.createSession({ principal: request.principal, sessionId: id, virtual: request.virtual });
    await replayInitialize(server, record.initialize);
    // The log level and subscriptions the client set on any replica, and what it changes here for the next.
    relay.restore(record.state);
    relay.onStateChange = () => void this.store.saveState(id, relay.state, this.settings.idleMs).catch(() => undefined);
    const running = { relay, principal: request.principal };
    this.relays.add(running);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: this.settings.jsonResponse,
      // Its events are the session's: a client that loses this stream resumes it on any replica.
      eventStore: this.events.forSession(id),
      ...(this.settings.ssePollMs > 0 ? { retryInterval: this.settings.ssePollMs } : {}),
    });
    const open = this.live.get(id) ?? [];
    this.live.set(id, [...open, transport]);
    res.once('close', () => {
      this.relays.delete(running);
      const left = (this.live.get(id) ?? []).filter((t) => t !== transport);
      if (left.length > 0) this.live.set(id, left);
      else this.live.delete(id);
      void transport.close().catch(() => undefined);
      void server.close().catch(() => undefined);
    });
    await server.connect(transport);
    res.setHeader('mcp-session-id', id);
    await transport.handleRequest(req, res, request.body);
    return true;
  }

  /**
   * A client resuming a stream of the session (`GET` with `Last-Event-ID`): the events it
   * missed, from the shared store, then the end of the stream. What the stream's replica
   * sends later is stored too; the client polls for it after the `retry:` interval, as for
   * any stream the server closes (SEP-1699).
   */
  private async replay(request: AdoptedRequest, id: string, lastEventId: string): Promise<boolean> {
    const { req, res } = request;
    if (!(req.headers.accept ?? '').includes('text/event-stream')) {
      sendJson(
        res,
        406,
        JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Not Acceptable: Client must accept text/event-stream' } }),
      );
      return true;
    }
    const found = await this.events.after(id, lastEventId).catch((error: unknown) => {
      throw new PatchbayError(ErrorCode.UNAVAILABLE, `MCP event store unreachable: ${error instanceof Error ? error.message : String(error)}`, {
        retryAfterSeconds: 1,
      });
    });
    if (!found) {
      sendJson(res, 400, JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Invalid event ID format' } }));
      return true;
    }
    void this.store.touch(id, this.settings.idleMs).catch(() => undefined);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'mcp-session-id': id });
    let text = `retry: ${this.settings.ssePollMs > 0 ? this.settings.ssePollMs : REPLAY_RETRY_MS}\n\n`;
    for (const event of found.events) if (event.message) text += `id: ${event.id}\ndata: ${JSON.stringify(event.message)}\n\n`;
    res.end(text);
    return true;
  }

  /**
   * Answers another replica received for a session whose request waits here.
   * @returns false when none of its requests is open here.
   */
  deliver(id: string, answers: JSONRPCMessage[]): boolean {
    const waiting = this.live.get(id)?.at(-1);
    if (!waiting) return false;
    for (const answer of answers) waiting.onmessage?.(answer);
    return true;
  }

  /** The relays of adopted sessions with a request open here, and whose they are. */
  running(): Iterable<{ relay: SessionRelay; principal: Principal }> {
    return this.relays;
  }

  /** Releases upstream sessions held for adopted sessions idle longer than the idle time. */
  sweep(now: number): void {
    for (const [id, lastSeen] of this.held) if (lastSeen < now - this.settings.idleMs) this.release(id);
  }

  private release(id: string): void {
    this.held.delete(id);
    for (const upstream of this.manager.list()) upstream.release(id);
  }
}

/** The JSON-RPC responses a POST carries (one or a batch), or undefined when it carries anything else. */
export function responsesIn(body: unknown): JSONRPCMessage[] | undefined {
  const messages = Array.isArray(body) ? (body as unknown[]) : [body];
  const responses = messages.filter((m): m is JSONRPCMessage => isJSONRPCResultResponse(m) || isJSONRPCErrorResponse(m));
  return responses.length > 0 && responses.length === messages.length ? responses : undefined;
}

/** Lets `server` see a client's `initialize` (its capabilities and version), as if it had sent it. */
async function replayInitialize(server: Server, initialize: Record<string, unknown>): Promise<void> {
  const [client, side] = InMemoryTransport.createLinkedPair();
  const answered = new Promise<void>((resolve) => {
    client.onmessage = (message: JSONRPCMessage) => {
      if ('id' in message && message.id === 'replay') resolve();
    };
  });
  await server.connect(side);
  await client.start();
  await client.send({ jsonrpc: '2.0', id: 'replay', method: 'initialize', params: initialize });
  await answered;
  await client.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  await server.close();
}
