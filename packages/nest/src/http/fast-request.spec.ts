import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { IncomingFastRequest } from './fast-request';

const trace = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), sampled: false };

function fakeResponse(): ServerResponse & { writableFinished: boolean } {
  return Object.assign(new EventEmitter(), { writableFinished: false }) as unknown as ServerResponse & { writableFinished: boolean };
}

describe('IncomingFastRequest', () => {
  it('aborts its signal with CANCELLED when the client goes away before the answer is sent', () => {
    const response = fakeResponse();
    const request = new IncomingFastRequest({}, undefined, {}, trace, response);
    const signal = request.signal;
    expect(request.signal).toBe(signal);
    response.emit('close');
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(PatchbayError);
    expect((signal.reason as PatchbayError).code).toBe(ErrorCode.CANCELLED);
  });

  it('leaves the signal alone when the connection closes after the answer was sent', () => {
    const response = fakeResponse();
    const request = new IncomingFastRequest({}, undefined, {}, trace, response);
    const signal = request.signal;
    response.writableFinished = true;
    response.emit('close');
    expect(signal.aborted).toBe(false);
  });

  it('listens for the close only once the handler asks for the signal', () => {
    const response = fakeResponse();
    const request = new IncomingFastRequest({ id: 'x' }, { a: 1 }, {}, trace, response);
    expect(response.listenerCount('close')).toBe(0);
    void request.signal;
    expect(response.listenerCount('close')).toBe(1);
  });

  it('is a plain fast-mode object with no accessor of its own (a per-request getter kept whole requests alive past young-generation GCs)', () => {
    // V8's own checks, in a child with natives syntax on: an object literal with its own
    // getter goes to dictionary mode with an accessor pair of its own; a class instance
    // shares one hidden class and keeps the getter on its prototype.
    const script = `
      const ts = require('typescript');
      require.extensions['.ts'] = (module, file) =>
        module._compile(ts.transpileModule(require('node:fs').readFileSync(file, 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText, file);
      const { IncomingFastRequest } = require(${JSON.stringify(require.resolve('./fast-request'))});
      const { EventEmitter } = require('node:events');
      const make = (i) => new IncomingFastRequest({ id: String(i) }, { sql: 'SELECT ' + i }, { host: 'h' }, { traceId: 't', spanId: 's', sampled: false }, new EventEmitter());
      const first = make(1);
      let same = true;
      let fast = %HasFastProperties(first);
      for (let i = 2; i < 50; i++) {
        const next = make(i);
        same = same && %HaveSameMap(first, next);
        fast = fast && %HasFastProperties(next);
      }
      const literal = (i) => ({ id: i, get signal() { return i; } });
      process.stdout.write(JSON.stringify({ same, fast, ownGetter: Object.getOwnPropertyDescriptor(first, 'signal') !== undefined, literalFast: %HasFastProperties(literal(1)) }));
    `;
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8', cwd: __dirname });
    expect(JSON.parse(out)).toEqual({ same: true, fast: true, ownGetter: false, literalFast: false });
  });
});
