import { parseArgs } from 'node:util';
import { isPatchbayError } from '@patchbay/client';
import { apply } from './commands/apply';
import * as connectors from './commands/connectors';
import { resolve, watch } from './commands/resolve';
import { status } from './commands/status';
import { createContext, type Context } from './context';
import { Exit, UsageError, exitCodeFor } from './exit-codes';

const HELP = `patchbay: the Patchbay command line

  patchbay connectors ls [--type TYPE]         list connectors
  patchbay connectors get ID                   one connector (no secret values)
  patchbay connectors put ID -f FILE|--data J  create or replace (YAML or JSON; -f - = stdin) [--if-match REV]
  patchbay connectors rm ID                    delete (a revision; rollback restores it)
  patchbay connectors history ID [--limit N]   revisions, newest first
  patchbay connectors rollback ID REVISION     write a new revision copying REVISION
  patchbay apply -f FILE [--dry-run] [--prune] many connectors at once, atomically, with a diff
  patchbay resolve ID [--show-secrets]         the url(s) and headers to use
  patchbay watch [--since REV]                 changes as they happen (Ctrl-C stops)
  patchbay status                              every service's health, each connection's state and breaker

Options: --json (machine-readable output; watch prints one JSON change per line)
         --registry URL (default $PATCHBAY_REGISTRY_URL or http://127.0.0.1:7100)
         --token TOKEN (default $PATCHBAY_TOKEN, else .patchbay/admin-token)
Exit codes: 0 ok, 1 refused or failed, 2 usage, 3 not found, 4 token missing or not allowed,
            5 unreachable or timed out, 6 status: not every service is ready`;

interface Streams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Readonly<Record<string, string | undefined>>;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      registry: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      type: { type: 'string' },
      file: { type: 'string', short: 'f' },
      data: { type: 'string' },
      'if-match': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      prune: { type: 'boolean', default: false },
      limit: { type: 'string' },
      since: { type: 'string' },
      'show-secrets': { type: 'boolean', default: false },
    },
  });
}

async function dispatch(ctx: Context, positionals: string[], values: ReturnType<typeof parse>['values']): Promise<number> {
  const [command, sub, ...rest] = positionals;
  switch (command) {
    case 'connectors':
    case 'connector': {
      const [id, extra] = rest;
      switch (sub) {
        case 'ls':
        case 'list':
          return connectors.list(ctx, { type: values.type });
        case 'get':
          return connectors.get(ctx, id);
        case 'put':
          return connectors.put(ctx, id, { file: values.file, data: values.data, ifMatch: values['if-match'] });
        case 'rm':
        case 'delete':
          return connectors.remove(ctx, id);
        case 'history':
          return connectors.history(ctx, id, { limit: values.limit });
        case 'rollback':
          return connectors.rollback(ctx, id, extra);
        default:
          throw new UsageError(`unknown connectors command '${sub ?? ''}': use ls, get, put, rm, history or rollback`);
      }
    }
    case 'apply':
      return apply(ctx, { file: values.file, dryRun: values['dry-run'], prune: values.prune });
    case 'resolve':
      return resolve(ctx, sub, { showSecrets: values['show-secrets'] });
    case 'watch':
      return watch(ctx, { since: values.since });
    case 'status':
      return status(ctx);
    default:
      throw new UsageError(command ? `unknown command '${command}'` : 'no command given');
  }
}

function report(ctx: Pick<Context, 'stderr' | 'json' | 'tokenSource'>, error: unknown): number {
  const code = exitCodeFor(error);
  const patchbay = isPatchbayError(error) ? error : undefined;
  let message = error instanceof Error ? error.message : String(error);
  if (code === Exit.AUTH) message += ` (token from ${ctx.tokenSource})`;
  if (ctx.json) {
    ctx.stderr.write(
      `${JSON.stringify({ error: { code: patchbay?.code ?? (code === Exit.USAGE ? 'USAGE' : 'ERROR'), message, ...(patchbay?.details ? { details: patchbay.details } : {}) } })}\n`,
    );
  } else {
    ctx.stderr.write(`patchbay: ${message}${patchbay ? ` [${patchbay.code}]` : ''}\n`);
    const issues = (patchbay?.details as { issues?: Array<{ path?: string; message?: string }> } | undefined)?.issues;
    for (const issue of issues ?? []) ctx.stderr.write(`  ${issue.path ?? ''}: ${issue.message ?? ''}\n`);
    if (code === Exit.USAGE) ctx.stderr.write('run `patchbay --help` for the commands\n');
  }
  return code;
}

/** Runs one command line; resolves with the exit code (never throws, never calls exit). */
export async function run(argv: string[], streams: Streams = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    return report({ stderr: streams.stderr, json: argv.includes('--json'), tokenSource: '' }, new UsageError((error as Error).message));
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    (positionals.length === 0 && !values.help ? streams.stderr : streams.stdout).write(`${HELP}\n`);
    return positionals.length === 0 && !values.help ? Exit.USAGE : Exit.OK;
  }
  let ctx: Context | undefined;
  try {
    ctx = createContext({ json: values.json, registry: values.registry, token: values.token }, streams.env, streams.stdout, streams.stderr);
    return await dispatch(ctx, positionals, values);
  } catch (error) {
    return report(ctx ?? { stderr: streams.stderr, json: values.json, tokenSource: '' }, error);
  } finally {
    await ctx?.client.close();
  }
}
