import { randomUUID } from 'node:crypto';
import { isJSONRPCErrorResponse, isJSONRPCResultResponse, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { Redis } from 'ioredis';

/** Answers of a client to what a replica asked it (sampling, elicitation, roots), for its session. */
export type AnswerHandler = (sessionId: string, answers: JSONRPCMessage[]) => void;

/**
 * Carries a client's answers to the replica that asked: behind a balancer without affinity
 * the POST with an answer may land on another replica than the request waiting for it.
 */
export interface SessionAnswers {
  /** True when other replicas hear what is published. */
  readonly shared: boolean;
  /** Hands answers to the other replicas (the one waiting for them delivers them). */
  publish(sessionId: string, answers: JSONRPCMessage[]): Promise<void>;
  /** Where answers other replicas received arrive. */
  onAnswers(handler: AnswerHandler): void;
  close(): Promise<void>;
}

/** One replica: nobody else to hand answers to. */
export class LocalSessionAnswers implements SessionAnswers {
  readonly shared = false;
  async publish(): Promise<void> {}
  onAnswers(): void {}
  async close(): Promise<void> {}
}

/** Answers on the Redis channel `<prefix>mcp:answers`, each replica subscribed. */
export class RedisSessionAnswers implements SessionAnswers {
  readonly shared = true;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  /** This replica's own messages come back on the channel: they are skipped. */
  private readonly origin = randomUUID();
  private readonly channel: string;
  private handler: AnswerHandler | undefined;

  constructor(url: string, prefix: string) {
    this.channel = `${prefix}mcp:answers`;
    this.publisher = new Redis(url, { maxRetriesPerRequest: 2 });
    this.subscriber = new Redis(url);
    this.publisher.on('error', () => undefined);
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, text: string) => this.received(text));
    void this.subscriber.subscribe(this.channel).catch(() => undefined);
  }

  async publish(sessionId: string, answers: JSONRPCMessage[]): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify({ origin: this.origin, sessionId, answers }));
  }

  onAnswers(handler: AnswerHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    this.handler = undefined;
    await Promise.all([this.subscriber, this.publisher].map((redis) => redis.quit().catch(() => redis.disconnect())));
  }

  private received(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const { origin, sessionId, answers } = value as { origin?: unknown; sessionId?: unknown; answers?: unknown };
    if (origin === this.origin || typeof sessionId !== 'string' || !Array.isArray(answers)) return;
    const valid = answers.filter((m): m is JSONRPCMessage => isJSONRPCResultResponse(m) || isJSONRPCErrorResponse(m));
    if (valid.length > 0) this.handler?.(sessionId, valid);
  }
}
