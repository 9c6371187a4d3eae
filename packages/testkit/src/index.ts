export { TEST_ADMIN_TOKEN, TEST_SECRET_KEY, randomSuffix, testDatabaseUrl, testRedisUrl, uniquePrefix } from './env';
export { createTestDatabase, dropSchema, uniqueSchema } from './postgres';
export type { TestDatabase } from './postgres';
export { freePort, freeStackOffset, startService } from './service';
export type { ServiceHandle, StartServiceOptions } from './service';
export { api, eventually } from './http';
export type { JsonResponse } from './http';
export { fmt, interleaved, median, percentile, processCpuMs, summarizeRounds, table } from './bench';
export { rawHttp } from './raw-http';
export type { RawExchange, RawResponse } from './raw-http';
export { TcpProxy } from './tcp-proxy';
export {
  CONTRACT_BODY_LIMIT,
  CONTRACT_TOKENS,
  LogCapture,
  contractEnv,
  describeOperationContract,
  describeServiceContract,
  documentedOperations,
} from './contract';
export type { ContractService, ContractTarget, DocumentedOperation, ServiceContractOptions } from './contract';
