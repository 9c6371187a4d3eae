import type { ChatAnswer } from '../chat/chat-stage';
import { newId } from '../ids';
import { functionCallItem, messageItem, outputTextPart, responseObject, responseUsage, statusFor, type ResponseEcho } from './response-object';

/** A translated `chat.completion` as a Responses object (JSON text): a message item for its text, one function_call item per tool call. */
export function chatAnswerToResponse(answer: ChatAnswer, echo: ResponseEcho): string {
  const output: string[] = [];
  if (answer.text.length > 0 || answer.toolCalls.length === 0) output.push(messageItem(newId('msg'), outputTextPart(JSON.stringify(answer.text))));
  for (const call of answer.toolCalls) output.push(functionCallItem(newId('fc'), call, 'completed'));
  return responseObject(echo, statusFor(answer.finishReason), output, responseUsage(answer.usage), answer.finishReason);
}
