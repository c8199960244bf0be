import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { REALTIME_OPTIONS } from '../realtime.constants';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

interface Window {
  hits: number;
  resetAt: number;
}

const SWEEP_INTERVAL_MS = 10_000;

/**
 * A fixed-window counter behind @nestjs/throttler's ThrottlerStorage
 * interface: O(1) per hit and one small record per key, where the stock
 * in-memory storage keeps a timestamp per hit (O(limit) memory and work per
 * message). The same counting a Redis storage does with INCR and PEXPIRE.
 * The table is bounded by limits.maxTrackedKeys; the oldest key goes first.
 */
@Injectable()
export class FixedWindowStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly windows = new Map<string, Window>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(@Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  increment(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    return Promise.resolve(this.hit(key, ttl, limit));
  }

  /** increment() without the promise, for callers on a synchronous path. */
  hit(key: string, ttl: number, limit: number): ThrottlerStorageRecord {
    const now = Date.now();
    let window = this.windows.get(key);
    if (window === undefined || window.resetAt <= now) {
      window = { hits: 0, resetAt: now + ttl };
      this.windows.delete(key); // re-insert: the bound evicts the least recently started window
      this.windows.set(key, window);
      if (this.windows.size > this.options.limits.maxTrackedKeys) {
        this.windows.delete(this.windows.keys().next().value as string);
      }
    }
    window.hits++;
    const isBlocked = window.hits > limit;
    const secondsLeft = Math.ceil((window.resetAt - now) / 1000);
    return {
      totalHits: window.hits,
      timeToExpire: secondsLeft,
      isBlocked,
      timeToBlockExpire: isBlocked ? secondsLeft : 0,
    };
  }

  get size(): number {
    return this.windows.size;
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
    this.windows.clear();
  }

  private sweep(now: number): void {
    for (const [key, window] of this.windows) {
      if (window.resetAt <= now) this.windows.delete(key);
    }
  }
}
