import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Reply, defineOperation, type Operation } from '@patchbay/nest';
import { z } from 'zod';

/** The console's files, built by `scripts/build-console.mjs` next to this file's output. */
const ROOT = join(__dirname, '..', 'console');
const FILES: Record<string, string> = {
  '': 'text/html; charset=utf-8',
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.js.map': 'application/json',
  'app.css': 'text/css; charset=utf-8',
};
// The console talks only to this origin; no inline script, no third party.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * `GET /console`: the web console (a static Preact app; signing in happens in the page
 * with a token, every call it makes is an ordinary API call with that token).
 */
export function consoleOperations(): Operation[] {
  const cache = new Map<string, Buffer>();
  const read = (file: string): Buffer | undefined => {
    const name = file === '' ? 'index.html' : file;
    if (!(file in FILES)) return undefined;
    let body = cache.get(name);
    if (!body) {
      try {
        body = readFileSync(join(ROOT, name));
      } catch {
        return undefined;
      }
      cache.set(name, body);
    }
    return body;
  };
  return [
    defineOperation({
      id: 'console.files',
      method: 'GET',
      path: '/console/*file',
      summary: 'The web console: sign in with a token; connectors, history with diff and rollback, the live fleet',
      tags: ['console'],
      scopes: 'public',
      params: z.object({ file: z.string().max(64) }),
      produces: 'stream',
      handle: ({ params, response }) => {
        const body = read(params.file);
        if (!body)
          return new Reply(404, {
            type: 'about:blank',
            title: 'Not found',
            status: 404,
            detail: `no console file '${params.file.slice(0, 64)}'`,
            code: 'NOT_FOUND',
          });
        response.writeHead(200, { 'content-type': FILES[params.file] ?? 'application/octet-stream', 'cache-control': 'no-cache', ...SECURITY_HEADERS });
        response.end(body);
        return undefined;
      },
    }),
  ];
}
