import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisConnections } from '../../redis/redis-connections.service';
import type { IdempotencyStore } from './idempotency-store.port';

/** How long a claim holds the key while its publish runs; a publisher that dies frees it after this. */
const CLAIM_MS = 30_000;
/** How long a concurrent retry waits for the first publish's offset before it gives up. */
const WAIT_MS = 10_000;
const POLL_MS = 20;
const DONE = '=';

/** Deletes the key only if it still holds this claim (a later claim is someone else's). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Redis mode, cluster-wide: the first caller claims the key with SET NX, then
 * stores `=<offset>` for the window; callers that find a claim wait for the
 * offset (polling, bounded), and claim the key themselves if the first
 * publish failed.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(private readonly redis: RedisConnections) {}

  async once(key: string, windowMs: number, publish: () => Promise<string>): Promise<string> {
    const redisKey = this.redis.key('idempotency', key);
    const client = this.redis.command;
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const claim = `claim:${randomBytes(8).toString('base64url')}`;
      if ((await client.set(redisKey, claim, 'PX', CLAIM_MS, 'NX')) === 'OK') {
        let offset: string;
        try {
          offset = await publish();
        } catch (error) {
          await client.eval(RELEASE, 1, redisKey, claim).catch(() => undefined);
          throw error;
        }
        await client.set(redisKey, DONE + offset, 'PX', windowMs);
        return offset;
      }
      const value = await client.get(redisKey);
      if (value?.startsWith(DONE)) return value.slice(DONE.length);
      if (Date.now() >= deadline) {
        throw new Error(`publish with idempotency key "${key}" is still in progress elsewhere`);
      }
      await sleep(POLL_MS);
    }
  }
}
