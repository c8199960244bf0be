import { TestRedisCluster } from './redis-cluster';
import { TestRedis } from './redis-server';

/** A Redis backend a multi-instance suite runs on: the demo's environment for it, and its teardown. */
export interface RedisBackend {
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** The backends every multi-instance suite runs against: one Redis, and a 3-master Redis Cluster. */
export const REDIS_BACKENDS: Array<[string, () => Promise<RedisBackend>]> = [
  [
    'one Redis',
    async () => {
      const redis = await TestRedis.start();
      return { env: { REDIS_URL: redis.url }, stop: () => redis.stop() };
    },
  ],
  [
    'a 3-master Redis Cluster',
    async () => {
      const cluster = await TestRedisCluster.start({ masters: 3 });
      return { env: { REDIS_CLUSTER_NODES: cluster.nodeList }, stop: () => cluster.stop() };
    },
  ],
];
