import { ErrorCode, PatchbayError } from '@patchbay/core';
import { openAiError } from './openai-errors';

describe('openAiError', () => {
  it('renders validation errors with the parameter to fix', () => {
    const error = new PatchbayError(ErrorCode.VALIDATION, '`model` is required', { details: { param: 'model' } });
    expect(openAiError(error)).toEqual({
      status: 400,
      headers: {},
      body: { error: { message: '`model` is required', type: 'invalid_request_error', param: 'model', code: 'validation' } },
    });
  });

  it('names the first field a schema check rejected as the parameter', () => {
    const error = new PatchbayError(ErrorCode.VALIDATION, 'invalid request body: stream: Expected boolean', {
      details: { issues: [{ path: 'stream', message: 'Expected boolean' }] },
    });
    expect(openAiError(error).body.error.param).toBe('stream');
    expect(openAiError(new PatchbayError(ErrorCode.VALIDATION, 'x', { details: { issues: [{ path: '', message: 'Required' }] } })).body.error.param).toBeNull();
  });

  it('carries attempts and connector headers, and hides internal messages behind the errorId', () => {
    const upstream = new PatchbayError(ErrorCode.UPSTREAM_ERROR, 'bad', { details: { attempts: 3, connector: 'A' } });
    expect(openAiError(upstream).headers).toEqual({ 'x-patchbay-attempts': '3', 'x-patchbay-connector': 'A' });
    const internal = openAiError(new PatchbayError(ErrorCode.INTERNAL, 'secret stack detail'), 'id-1');
    expect(internal.body.error.message).toBe('internal error; quote errorId id-1 when reporting');
    expect(internal.status).toBe(500);
  });

  it('uses the SDK-known types for auth and rate limits', () => {
    expect(openAiError(new PatchbayError(ErrorCode.UNAUTHORIZED, 'x')).body.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
    expect(openAiError(new PatchbayError(ErrorCode.RATE_LIMITED, 'x')).status).toBe(429);
  });

  it('says when to come back on every 503', () => {
    expect(openAiError(new PatchbayError(ErrorCode.UPSTREAM_UNAVAILABLE, 'down')).headers['retry-after']).toBe('1');
    expect(openAiError(new PatchbayError(ErrorCode.CIRCUIT_OPEN, 'open', { retryAfterSeconds: 12.5 })).headers['retry-after']).toBe('13');
    expect(openAiError(new PatchbayError(ErrorCode.UPSTREAM_ERROR, 'bad')).headers['retry-after']).toBeUndefined();
  });
});
