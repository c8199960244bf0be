import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import Redis, { Cluster, type ClusterNode } from 'ioredis';

/**
 * The Redis the realtime engine runs on (the demo's `realtime.redis`): one
 * Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES).
 */
export interface LastSeenRedisOptions {
  url?: string;
  cluster?: { nodes: ClusterNode[] };
}

/** One key, so one slot: the script and every read touch only it, on a cluster too. */
const KEY = 'demo:last-seen';
/** Users whose last-seen the demo keeps; the longest-gone are forgotten first (a real app keeps it in its database). */
export const LAST_SEEN_MAX_USERS = 100_000;

/** Moves a user's time forward only, then forgets the longest-gone past the bound. */
const RECORD_SCRIPT = `
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1) end`;

/**
 * Last-seen times, written by the demo's own `user.offline` handler. In Redis
 * mode (one Redis or a cluster) the handler runs on whichever instance takes
 * the job and the route is asked on any, so the times live in one Redis
 * sorted set; in memory mode, in a map.
 * Times only move forward (a retried, older event never overwrites a newer one),
 * and both are bounded (LAST_SEEN_MAX_USERS).
 */
type LastSeenRedis = (Redis | Cluster) & {
  recordLastSeen(key: string, userId: string, at: string, maxUsers: string): Promise<unknown>;
};

@Injectable()
export class LastSeenStore implements OnApplicationShutdown {
  private readonly local = new Map<string, number>();
  private readonly redis: LastSeenRedis | undefined;

  constructor(
    redis: LastSeenRedisOptions | undefined,
    private readonly maxUsers = LAST_SEEN_MAX_USERS,
  ) {
    this.redis = connect(redis);
    // EVALSHA: the script's text goes to Redis once, not with every user who goes offline.
    this.redis?.defineCommand('recordLastSeen', { numberOfKeys: 1, lua: RECORD_SCRIPT });
    // ioredis reconnects by itself; an unhandled 'error' event would crash the demo.
    this.redis?.on('error', () => undefined);
  }

  async record(userId: string, at: number): Promise<void> {
    if (!this.redis) {
      const latest = Math.max(at, this.local.get(userId) ?? 0);
      // Re-inserted so that the Map's order is oldest write first, the one to forget.
      this.local.delete(userId);
      this.local.set(userId, latest);
      if (this.local.size > this.maxUsers) {
        this.local.delete(this.local.keys().next().value as string);
      }
      return;
    }
    await this.redis.recordLastSeen(KEY, userId, String(at), String(this.maxUsers));
  }

  async lastSeen(userId: string): Promise<number | null> {
    if (!this.redis) return this.local.get(userId) ?? null;
    const value = await this.redis.zscore(KEY, userId);
    return value === null ? null : Number(value);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis?.quit().catch(() => this.redis?.disconnect());
  }
}

function connect(redis: LastSeenRedisOptions | undefined): LastSeenRedis | undefined {
  const options = { maxRetriesPerRequest: 2 };
  if (redis?.cluster) {
    return new Cluster(redis.cluster.nodes, { redisOptions: options }) as LastSeenRedis;
  }
  return redis?.url ? (new Redis(redis.url, options) as LastSeenRedis) : undefined;
}
