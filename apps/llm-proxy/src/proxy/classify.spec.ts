import { ErrorCode } from '@patchbay/core';
import { AttemptFailure, FailureKind, classifyError, classifyStatus, exhaustedError } from './classify';

describe('classifyStatus', () => {
  it.each([
    [200, 'ok'],
    [400, 'verbatim'],
    [404, 'verbatim'],
    [413, 'verbatim'],
    [422, 'verbatim'],
    [401, FailureKind.AUTH],
    [402, FailureKind.AUTH],
    [403, FailureKind.AUTH],
    [429, FailureKind.RATE_LIMITED],
    [500, FailureKind.SERVER],
    [503, FailureKind.SERVER],
    [529, FailureKind.SERVER],
    [408, FailureKind.SERVER],
    [302, FailureKind.BAD_RESPONSE],
  ])('%i -> %s', (status, expected) => {
    expect(classifyStatus(status)).toBe(expected);
  });

  it('treats an exhausted quota as a credentials problem', () => {
    expect(classifyStatus(429, Buffer.from('{"error":{"code":"insufficient_quota"}}'))).toBe(FailureKind.AUTH);
  });
});

describe('classifyError', () => {
  it('maps undici timeouts, parser errors and socket errors', () => {
    expect(classifyError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })).kind).toBe(FailureKind.TIMEOUT);
    expect(classifyError(Object.assign(new Error('x'), { code: 'HPE_INVALID_CONSTANT' })).kind).toBe(FailureKind.BAD_RESPONSE);
    expect(classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).kind).toBe(FailureKind.NETWORK);
  });

  it('decides what is retried on the same connector and what opens the breaker', () => {
    expect(new AttemptFailure(FailureKind.SERVER, 'x').retrySameConnector).toBe(true);
    expect(new AttemptFailure(FailureKind.AUTH, 'x').retrySameConnector).toBe(false);
    expect(new AttemptFailure(FailureKind.TIMEOUT, 'x').retrySameConnector).toBe(false);
    expect(new AttemptFailure(FailureKind.RATE_LIMITED, 'x').countsAgainstBreaker).toBe(false);
  });
});

describe('exhaustedError', () => {
  it('maps the last failure to the client-facing code', () => {
    expect(exhaustedError(new AttemptFailure(FailureKind.RATE_LIMITED, 'x', 429, 2500), 'A', 2)).toMatchObject({
      code: ErrorCode.RATE_LIMITED,
      retryAfterSeconds: 3,
    });
    expect(exhaustedError(new AttemptFailure(FailureKind.NETWORK, 'x'), 'A', 1).code).toBe(ErrorCode.UPSTREAM_UNAVAILABLE);
    expect(exhaustedError(new AttemptFailure(FailureKind.TIMEOUT, 'x'), 'A', 1).code).toBe(ErrorCode.TIMEOUT);
  });
});
