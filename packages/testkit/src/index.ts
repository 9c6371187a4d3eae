export { TEST_ADMIN_TOKEN, TEST_SECRET_KEY, randomSuffix, testDatabaseUrl, testRedisUrl, uniquePrefix } from './env';
export { createTestDatabase, dropSchema, uniqueSchema } from './postgres';
export type { TestDatabase } from './postgres';
export { freePort, startService } from './service';
export type { ServiceHandle, StartServiceOptions } from './service';
export { api, eventually } from './http';
export type { JsonResponse } from './http';
export { fmt, interleaved, median, percentile, summarizeRounds, table } from './bench';
