/** What a fake model says next: it calls the first tool it was given, then reports what the tool answered. */
export interface TextTurn {
  kind: 'text';
  text: string;
}
export interface ToolTurn {
  kind: 'tool';
  callId: string;
  name: string;
  arguments: string;
}

type Json = Record<string, unknown>;

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The arguments every fake tool call carries. */
export const FAKE_TOOL_ARGUMENTS = '{"city":"Paris"}';

function decide(toolNames: string[], toolResult: string | undefined, name: string, callId: string): TextTurn | ToolTurn {
  if (toolResult !== undefined) return { kind: 'text', text: `tool said: ${toolResult}` };
  const first = toolNames[0];
  if (first) return { kind: 'tool', callId, name: first, arguments: FAKE_TOOL_ARGUMENTS };
  return { kind: 'text', text: `hello from ${name}` };
}

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof (p as Json)['text'] === 'string' ? ((p as Json)['text'] as string) : '')).join('');
  return JSON.stringify(content);
}

/** For a Chat Completions body. */
export function scriptedTurn(body: Json, name: string): TextTurn | ToolTurn {
  const messages = Array.isArray(body['messages']) ? (body['messages'] as Json[]) : [];
  const last = messages.at(-1);
  const tools = Array.isArray(body['tools']) ? (body['tools'] as Json[]).map((t) => str((t['function'] as Json | undefined)?.['name'])) : [];
  return decide(tools, last?.['role'] === 'tool' ? text(last['content']) : undefined, name, 'call_fake_1');
}

/** For a Responses body. */
export function scriptedResponsesTurn(body: Json, name: string): TextTurn | ToolTurn {
  const input = Array.isArray(body['input']) ? (body['input'] as Json[]) : [];
  const last = input.at(-1);
  const tools = Array.isArray(body['tools']) ? (body['tools'] as Json[]).map((t) => str(t['name'])) : [];
  return decide(tools, last?.['type'] === 'function_call_output' ? text(last['output']) : undefined, name, 'call_fake_1');
}

/** For an Anthropic Messages body. */
export function scriptedMessagesTurn(body: Json, name: string): TextTurn | ToolTurn {
  const messages = Array.isArray(body['messages']) ? (body['messages'] as Json[]) : [];
  const last = messages.at(-1);
  const blocks = Array.isArray(last?.['content']) ? (last['content'] as Json[]) : [];
  const result = blocks.find((b) => b['type'] === 'tool_result');
  const tools = Array.isArray(body['tools']) ? (body['tools'] as Json[]).map((t) => str(t['name'])) : [];
  return decide(tools, result ? text(result['content']) : undefined, name, 'toolu_fake_1');
}
