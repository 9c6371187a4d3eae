import { readFile } from 'node:fs/promises';
import { ErrorCode, PatchbayError, isPatchbayError } from '@patchbay/core';
import { parseDocument } from 'yaml';
import type { ApplyResult, ConnectorService } from '../connectors/connector.service';
import { parseApplyDocument, type ApplyDocument } from '../connectors/connector.schema';
import { MAX_DOCUMENT_DEPTH } from '../connectors/document-guard';
import { yamlNestingBound } from './yaml-nesting';

/** The actor recorded for changes made from `PATCHBAY_CONFIG_FILE`. */
const CONFIG_FILE_ACTOR = 'config-file';

/** yaml's budget for alias expansion (nodes reached through aliases times aliases); a bomb needs far more. */
const MAX_YAML_ALIASES = 100;
/**
 * Above this (approximate, see yamlNestingBound) the text is not composed at all: yaml's
 * composer recurses per level, and a stack overflow inside V8 can abort the process
 * rather than throw. Well above what a document of MAX_DOCUMENT_DEPTH levels needs.
 */
const MAX_YAML_NESTING = 5 * MAX_DOCUMENT_DEPTH;

function yamlError(message: string, reason: string): PatchbayError {
  return new PatchbayError(ErrorCode.VALIDATION, message, { details: { issues: [{ path: '(document)', message: reason }] } });
}

/**
 * Parses YAML (or JSON, which is YAML) text into a plain value. Syntax errors become
 * VALIDATION errors with the line and column; so do alias bombs and nesting deep enough
 * to exhaust the stack, which the parser reports by throwing.
 */
export function parseYaml(text: string, what: string): unknown {
  if (yamlNestingBound(text) > MAX_YAML_NESTING) {
    throw yamlError(`${what} is rejected: it nests too deeply (at most ${MAX_DOCUMENT_DEPTH} levels)`, 'nests too deeply');
  }
  try {
    const document = parseDocument(text, { uniqueKeys: true });
    const [first] = document.errors;
    if (first) {
      const where = first.linePos?.[0] ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}` : '';
      const reason = first.message.split('\n')[0] ?? 'syntax error';
      throw yamlError(`${what} is not valid YAML${where}: ${reason}`, reason);
    }
    return document.toJS({ maxAliasCount: MAX_YAML_ALIASES }) as unknown;
  } catch (error) {
    if (isPatchbayError(error)) throw error;
    // yaml throws a ReferenceError past maxAliasCount; deep nesting overflows the stack.
    const reason =
      error instanceof ReferenceError
        ? 'expands its aliases (*name) too much, as an alias bomb does; repeat the values instead'
        : error instanceof RangeError
          ? 'nests too deeply'
          : ((error instanceof Error ? error.message.split('\n')[0] : undefined) ?? 'cannot be read');
    throw yamlError(`${what} is rejected: it ${reason}`, reason);
  }
}

/**
 * Parses a `POST /v1/apply` body: an already-parsed JSON object (from a JSON body
 * parser), or YAML/JSON text. The document shape is the one of the config file:
 * `connectors:` as a list of entries with `configId`, or a map keyed by configId.
 */
export function parseApplyBody(body: unknown): ApplyDocument {
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (!text.trim()) throw PatchbayError.validation('apply body is empty: send a document with a "connectors" list or map');
    return parseApplyDocument(parseYaml(text, 'apply body'));
  }
  return parseApplyDocument(body);
}

/**
 * Reads and validates a config file. Errors name the file, then the entry and field
 * (e.g. `connectors[2] (LLM) options.models: Expected array, received string`).
 */
async function loadConfigFile(path: string): Promise<ApplyDocument> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? 'error';
    throw new PatchbayError(ErrorCode.VALIDATION, `PATCHBAY_CONFIG_FILE ${path}: cannot read it (${code})`, { cause });
  }
  try {
    return parseApplyDocument(parseYaml(text, 'the file'), 'connectors');
  } catch (error) {
    if (isPatchbayError(error)) {
      const options = error.details ? { details: error.details, cause: error } : { cause: error };
      throw new PatchbayError(error.code, `PATCHBAY_CONFIG_FILE ${path}: ${error.message}`, options);
    }
    throw error;
  }
}

/**
 * Applies `PATCHBAY_CONFIG_FILE` at start, atomically, as actor `config-file`.
 * Connectors not in the file are left alone unless `prune` is set.
 */
export async function applyConfigFile(service: ConnectorService, path: string, options: { prune?: boolean } = {}): Promise<ApplyResult> {
  const document = await loadConfigFile(path);
  return service.applyParsed(document.connectors, CONFIG_FILE_ACTOR, options);
}
