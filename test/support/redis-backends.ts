import { TestRedisCluster } from './redis-cluster';
import { TestRedis } from './redis-server';

/** A Redis backend a multi-instance suite runs on: the demo's environment for it, and its teardown. */
export interface RedisBackend {
  env: Record<string, string>;
  /** Every node (ACLs, INFO and CLIENT KILL are per node, even on a cluster). */
  nodes: TestRedis[];
  /** The demo's environment for it, signed in as this Redis user. */
  envSignedIn(user: string, password: string): Record<string, string>;
  stop(): Promise<void>;
}

/** The backends every multi-instance suite runs against: one Redis, and a 3-master Redis Cluster. */
export const REDIS_BACKENDS: Array<[string, () => Promise<RedisBackend>]> = [
  [
    'one Redis',
    async () => {
      const redis = await TestRedis.start();
      return {
        env: { REDIS_URL: redis.url },
        nodes: [redis],
        envSignedIn: (user, password) => ({
          REDIS_URL: `redis://${user}:${password}@127.0.0.1:${redis.port}`,
        }),
        stop: () => redis.stop(),
      };
    },
  ],
  [
    'a 3-master Redis Cluster',
    async () => {
      const cluster = await TestRedisCluster.start({ masters: 3 });
      return {
        env: { REDIS_CLUSTER_NODES: cluster.nodeList },
        nodes: cluster.nodes,
        envSignedIn: (user, password) => ({
          REDIS_CLUSTER_NODES: cluster.nodeList,
          REDIS_CLUSTER_USERNAME: user,
          REDIS_CLUSTER_PASSWORD: password,
        }),
        stop: () => cluster.stop(),
      };
    },
  ],
];
