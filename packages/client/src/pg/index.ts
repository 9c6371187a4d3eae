export { FollowingPool } from './following-pool';
export type { FollowingPoolOptions, PoolEvent, PoolState } from './following-pool';
