import type { RealtimeModuleOptions } from '@nest-realtime/server';
import { TestRedis } from '../support/redis-server';

/**
 * The two engines every offline suite runs on: memory (one process), and
 * Redis mode against a redis-server of the suite's own.
 */
export interface EngineUnderTest {
  name: 'memory' | 'redis';
  /** The options that select the engine (started lazily: Redis only when used). */
  options(): Promise<Pick<RealtimeModuleOptions, 'redis' | 'engine'>>;
  stop(): Promise<void>;
  /** The Redis of the suite, for restart tests. */
  redis?: () => TestRedis | undefined;
}

export function enginesUnderTest(): EngineUnderTest[] {
  let redis: TestRedis | undefined;
  let prefix = 0;
  return [
    {
      name: 'memory',
      options: () => Promise.resolve({ engine: { type: 'memory' } }),
      stop: () => Promise.resolve(),
    },
    {
      name: 'redis',
      options: async () => {
        redis ??= await TestRedis.start();
        // A fresh prefix per app group: tests share the server, never each other's keys.
        return { redis: { url: redis.url, keyPrefix: `t${++prefix}:` }, engine: { type: 'redis' } };
      },
      stop: async () => redis?.stop(),
      redis: () => redis,
    },
  ];
}
