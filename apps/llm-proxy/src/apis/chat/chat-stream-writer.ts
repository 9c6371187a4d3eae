import type { PatchbayError } from '@patchbay/core';
import { openAiError } from '../../http/openai-errors';
import { sseEvent, type Json } from '../sse';
import type { ChatChunkStage } from './chat-stage';

/** Pivot chunks to a Chat Completions client: as they are, the usage-only chunk only when it asked for usage. */
export class ChatStreamWriter implements ChatChunkStage {
  constructor(
    private readonly write: (text: string) => void,
    private readonly wantsUsage: boolean,
  ) {}

  chunk(chunk: Json): void {
    if (!this.wantsUsage && Array.isArray(chunk['choices']) && chunk['choices'].length === 0) return;
    this.write(sseEvent(undefined, chunk));
  }

  end(): void {
    this.write('data: [DONE]\n\n');
  }

  fail(error: PatchbayError): void {
    this.write(sseEvent(undefined, openAiError(error).body));
  }
}
