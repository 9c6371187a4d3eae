import { randomBytes } from 'node:crypto';

/** Postgres the integration tests use (ARCHITECTURE.md section 2). */
export function testDatabaseUrl(): string {
  return process.env.PATCHBAY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

/** Redis the integration tests use. */
export function testRedisUrl(): string {
  return process.env.PATCHBAY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A short random suffix for names (schemas, databases, prefixes). */
export function randomSuffix(): string {
  return randomBytes(5).toString('hex');
}

/** A Redis key/channel prefix no other test run shares. */
export function uniquePrefix(): string {
  return `pbtest:${randomSuffix()}:`;
}

/** The admin token every test service is started with. */
export const TEST_ADMIN_TOKEN = 'pb_test_admin_token_0123456789abcdef';
/** A fixed 32-byte secret key (base64) for test services. */
export const TEST_SECRET_KEY = Buffer.alloc(32, 7).toString('base64');
