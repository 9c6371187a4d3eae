import type { ServerResponse } from 'node:http';
import type { PatchbayError } from '@patchbay/core';
import type { JsonAnswer, StreamSink } from '../proxy/proxy-call';
import { usageFrom, type Usage } from '../proxy/usage';
import { readChatAnswer, type ChatAnswer, type ChatChunkStage } from './chat/chat-stage';
import { ChatStreamWriter } from './chat/chat-stream-writer';
import { plainTextDelta } from './chat/plain-text-delta';
import { errorBodyFor } from './error-shapes';
import { AnthropicToChatStream, anthropicMessageToChatAnswer, chatCompletionBody } from './messages/anthropic-to-chat';
import { chatAnswerToMessage } from './messages/chat-to-message';
import { ChatToMessagesStream } from './messages/chat-stream-to-events';
import { chatAnswerToResponse } from './responses/chat-to-response';
import { ChatToResponsesStream } from './responses/chat-stream-to-events';
import type { ResponseEcho } from './responses/response-object';
import { SseParser, isObject, parseJsonObject, type Json, type SseEvent } from './sse';
import type { WireApi } from './wire-api';

/**
 * How answers reach one client API from an upstream that spoke another: every translation
 * goes through Chat Completions (the pivot), so each API needs only its way to and from it.
 */
export interface ClientCodec {
  api: WireApi;
  /** The model as the client named it (echoed in translated answers). */
  model: string;
  /** A translated answer, as the JSON text of the client's API. */
  fromChat(answer: ChatAnswer): string;
  stage(write: (text: string) => void): ChatChunkStage;
  /** Sees a native (untranslated) JSON answer. */
  observeJson?: (body: Buffer) => void;
  /** Sees each event of a native (untranslated) stream. */
  observeEvent?: (event: SseEvent) => void;
}

const SEQUENCE_NUMBER = /"sequence_number":\s*(\d+)/;

/** Chat Completions (and the legacy completions and embeddings, which are never translated). */
export function chatCodec(model: string, wantsUsage: boolean, api: WireApi = 'chat'): ClientCodec {
  return { api, model, fromChat: (answer) => JSON.stringify(chatCompletionBody(answer, model)), stage: (write) => new ChatStreamWriter(write, wantsUsage) };
}

/** `completed` receives each finished response to store (undefined: none is stored, so no object is made). */
export function responsesCodec(echo: ResponseEcho, completed: ((response: Json) => void) | undefined): ClientCodec {
  // The `error` event that reports a broken native stream numbers on from the events relayed before it.
  let nextSequence = 0;
  return {
    api: 'responses',
    model: echo.model,
    fromChat: (answer) => {
      const response = chatAnswerToResponse(answer, echo);
      completed?.(JSON.parse(response) as Json);
      return response;
    },
    stage: (write) => new ChatToResponsesStream(echo, write, completed, nextSequence),
    observeJson: (body) => {
      if (!completed) return;
      const response = parseJsonObject(body.toString('utf8'));
      if (response) completed(response);
    },
    observeEvent: (event) => {
      const sequence = SEQUENCE_NUMBER.exec(event.data);
      if (sequence) nextSequence = Number(sequence[1]) + 1;
      if (!completed || !event.data.includes('"response.completed"')) return;
      const data = parseJsonObject(event.data);
      if (data?.['type'] === 'response.completed' && isObject(data['response'])) completed(data['response']);
    },
  };
}

export function messagesCodec(model: string): ClientCodec {
  return {
    api: 'messages',
    model,
    fromChat: (answer) => chatAnswerToMessage(answer, model),
    stage: (write) => new ChatToMessagesStream(model, write),
  };
}

/** A JSON answer as the client gets it, with the usage it reports. */
export interface ClientJson {
  body: Buffer | string;
  usage: Usage | undefined;
}

/**
 * A JSON answer in the client's API: as it came when the upstream spoke it, else translated
 * (a 4xx into the client's error shape), its usage read from the body parsed for it. A
 * translation stays text: the HTTP response writes it with its head in one write, where a
 * Buffer of it would be one more copy.
 */
export function translateJson(answer: Pick<JsonAnswer, 'api' | 'status' | 'body' | 'usage'>, codec: ClientCodec): ClientJson {
  if (answer.api === codec.api) return { body: answer.body, usage: answer.usage };
  if (answer.status >= 400) return { body: JSON.stringify(errorBodyFor(codec.api, answer.body, answer.status)), usage: answer.usage };
  const json = parseJsonObject(answer.body.toString('utf8')) ?? {};
  const pivot = answer.api === 'messages' ? anthropicMessageToChatAnswer(json) : readChatAnswer(json);
  return { body: codec.fromChat(pivot), usage: usageFrom(json['usage']) };
}

/** Where a translated stream's text goes (an HTTP response, a gRPC stream). */
export interface TextOut {
  /** False when the consumer wants a pause until `onDrain`. */
  write(text: string): boolean;
  onDrain(resume: () => void): void;
  /** Ends the output, after writing `last` when given (one write with the end). */
  end(last?: string): void;
  readonly closed: boolean;
}

export function httpTextOut(res: ServerResponse): TextOut {
  return {
    write: (text) => res.write(text),
    onDrain: (resume) => res.once('drain', resume),
    end: (last) => (last ? res.end(last) : res.end()),
    get closed() {
      return res.destroyed || res.writableEnded;
    },
  };
}

/**
 * A sink that translates a relayed stream (whole upstream events, as the relay emits them)
 * into the client's API before it reaches `out`. The events one upstream chunk becomes
 * leave in one write, as the chat relay forwards a chunk: one write per event cost a
 * syscall each (a Responses stream has about three events per chunk of text).
 */
export function translatingSink(out: TextOut, upstreamApi: WireApi, codec: ClientCodec): StreamSink {
  let pending = '';
  const stage = codec.stage((text) => {
    pending += text;
  });
  const parser = new SseParser();
  const anthropic = upstreamApi === 'messages' ? new AnthropicToChatStream(codec.model, stage) : undefined;
  const take = (bytes: Buffer | string): void => {
    for (const event of parser.push(bytes)) {
      if (anthropic) anthropic.event(event);
      else if (event.data !== '[DONE]' && event.data.trim() !== '[DONE]') {
        const text = stage.plainText ? plainTextDelta(event.data) : undefined;
        if (text !== undefined) stage.plainText?.(text);
        else {
          const chunk = parseJsonObject(event.data);
          if (chunk) stage.chunk(chunk);
        }
      }
    }
  };
  const drained = (): string => {
    const text = pending;
    pending = '';
    return text;
  };
  return {
    write: (bytes) => {
      take(bytes);
      const text = drained();
      return text === '' || out.closed || out.write(text);
    },
    onDrain: (resume) => out.onDrain(resume),
    end: () => {
      take('\n\n');
      stage.end();
      const text = drained();
      if (!out.closed) out.end(text);
    },
    fail: (error: PatchbayError) => {
      if (out.closed) return;
      stage.fail(error);
      out.end(drained());
    },
  };
}
