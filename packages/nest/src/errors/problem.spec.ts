import { NotFoundException } from '@nestjs/common';
import { ErrorCode, PatchbayError } from '@patchbay/core';
import { toPatchbayError, toProblem } from './problem';

describe('problem mapping', () => {
  it('keeps PatchbayErrors and maps their code to a status', () => {
    const problem = toProblem(new PatchbayError(ErrorCode.CONFLICT, 'revision 3 is stale', { details: { currentRevision: 4 } }), '/v1/x');
    expect(problem).toMatchObject({ status: 409, code: 'CONFLICT', detail: 'revision 3 is stale', instance: '/v1/x', details: { currentRevision: 4 } });
    expect(problem.errorId).toBeUndefined();
  });

  it('gives 5xx an errorId and hides internal messages', () => {
    const problem = toProblem(toPatchbayError(new Error('password=hunter2 connection failed')));
    expect(problem.status).toBe(500);
    expect(problem.errorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(problem.detail).not.toContain('hunter2');
  });

  it('maps framework 4xx errors with a message that says what to fix', () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    expect(toPatchbayError(tooLarge, [], 1024)).toMatchObject({
      code: ErrorCode.PAYLOAD_TOO_LARGE,
      message: 'request body is larger than the limit of 1024 bytes',
    });
    const badJson = Object.assign(new SyntaxError('Unexpected token b in JSON'), { statusCode: 400 });
    expect(toPatchbayError(badJson).message).toMatch(/^malformed JSON body/);
    expect(toPatchbayError(new NotFoundException('Cannot GET /nope')).code).toBe(ErrorCode.NOT_FOUND);
  });

  it('lets mappers translate driver errors', () => {
    const pgError = Object.assign(new Error('duplicate key'), { code: '23505' });
    const mapped = toPatchbayError(pgError, [
      (e) => ((e as { code?: string }).code === '23505' ? new PatchbayError(ErrorCode.CONFLICT, 'duplicate') : undefined),
    ]);
    expect(mapped.code).toBe(ErrorCode.CONFLICT);
  });
});
