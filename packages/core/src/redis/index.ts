export { RedisBus, pingRedis } from './redis-bus';
export type { RedisBusOptions } from './redis-bus';
