import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { UsageError } from './exit-codes';

/** Reads a YAML or JSON file (`-` = stdin) as text and parsed value. */
export function readDocument(path: string): { text: string; value: unknown } {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path === '-' ? 'stdin' : path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return { text, value: parseText(text, path === '-' ? 'stdin' : path) };
}

export function parseText(text: string, what: string): unknown {
  try {
    return parse(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new UsageError(`${what} is not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`);
  }
}
