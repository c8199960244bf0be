import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import type { RedisConnections } from '../redis/redis-connections.service';
import type { EngineHistoryOptions, HistoryLimits } from './history-limits';
import { MemoryEngine } from './memory.engine';
import type { RealtimeEngine } from './realtime-engine.port';
import { RedisEngine } from './redis/redis.engine';

/**
 * Picks the engine named by the resolved options (`engine.type`, `redis` by
 * default when `redis` is set), at run time: `forRoot` and `forRootAsync`
 * (options from a ConfigService) choose alike and need no static
 * declaration. Nothing above the port knows which one runs.
 */
export function createEngine(
  options: ResolvedRealtimeOptions,
  redis: RedisConnections,
): RealtimeEngine {
  if (options.engine.type === 'redis') {
    return new RedisEngine(redis, {
      ...historyOptions(options),
      maxRevocations: options.limits.maxTrackedKeys,
      linkCheck: options.redis && {
        intervalMs: options.redis.pingIntervalMs,
        timeoutMs: options.redis.pingTimeoutMs,
      },
    });
  }
  return new MemoryEngine(historyOptions(options));
}

export function historyOptions(options: ResolvedRealtimeOptions): EngineHistoryOptions {
  const namespaces: Record<string, Partial<HistoryLimits>> = {};
  for (const [namespace, policy] of Object.entries(options.topics)) {
    if (!policy.history) continue;
    const { size, maxBytes, ttlSeconds } = policy.history;
    namespaces[namespace] = {
      ...(size === undefined ? {} : { size }),
      ...(maxBytes === undefined ? {} : { maxBytes }),
      ...(ttlSeconds === undefined ? {} : { ttlMs: ttlSeconds * 1000 }),
    };
  }
  return {
    history: {
      size: options.history.size,
      maxBytes: options.history.maxBytes,
      ttlMs: options.history.ttlSeconds * 1000,
    },
    namespaces,
    maxHistoryTopics: options.history.maxTopics,
    maxTotalBytes: options.history.maxTotalBytes,
  };
}
