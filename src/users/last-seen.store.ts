import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';

/** Where the demo keeps when each user was last seen: this process, or (REDIS_URL) Redis, shared by every instance. */
export const LAST_SEEN_REDIS_URL = Symbol('LAST_SEEN_REDIS_URL');

const KEY = 'demo:last-seen';

/**
 * Last-seen times, written by the demo's own `user.offline` handler. In Redis
 * mode the handler runs on whichever instance takes the job and the route is
 * asked on any, so the times live in one Redis hash; in memory mode, in a map.
 * Times only move forward (a retried, older event never overwrites a newer one).
 */
@Injectable()
export class LastSeenStore implements OnApplicationShutdown {
  private readonly local = new Map<string, number>();
  private readonly redis: Redis | undefined;

  constructor(redisUrl: string | undefined) {
    this.redis = redisUrl
      ? new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2 })
      : undefined;
    // ioredis reconnects by itself; an unhandled 'error' event would crash the demo.
    this.redis?.on('error', () => undefined);
  }

  async record(userId: string, at: number): Promise<void> {
    if (!this.redis) {
      this.local.set(userId, Math.max(at, this.local.get(userId) ?? 0));
      return;
    }
    await this.redis.eval(
      "local t = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') if tonumber(ARGV[2]) > t then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end",
      1,
      KEY,
      userId,
      String(at),
    );
  }

  async lastSeen(userId: string): Promise<number | null> {
    if (!this.redis) return this.local.get(userId) ?? null;
    const value = await this.redis.hget(KEY, userId);
    return value === null ? null : Number(value);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis?.quit().catch(() => this.redis?.disconnect());
  }
}
