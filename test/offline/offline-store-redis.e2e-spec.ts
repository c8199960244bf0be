import { resolveRealtimeOptions } from '@nest-realtime/server';
import Redis from 'ioredis';
import type { InboxLimits } from '../../libs/realtime/src/delivery/offline/offline-store.port';
import { RedisOfflineStore } from '../../libs/realtime/src/delivery/offline/redis-offline.store';
import { RedisConnections } from '../../libs/realtime/src/redis/redis-connections.service';
import { TestRedisCluster } from '../support/redis-cluster';
import { TestRedis } from '../support/redis-server';

const LIMITS: InboxLimits = {
  maxMessages: 10,
  maxBytes: 10_000,
  whenFull: 'reject',
  deadLetterLimit: 10,
};

/** `count` adds to distinct users in one event-loop turn (one batch). */
function burst(store: RedisOfflineStore, prefix: string, count: number): Promise<unknown> {
  const now = Date.now();
  return Promise.all(
    Array.from({ length: count }, (_, n) =>
      store.add(
        {
          id: `${prefix}-${n}`,
          userId: `${prefix}-user-${n}`,
          type: 't',
          payload: { n },
          ts: now,
          expiresAt: now + 60_000,
        },
        LIMITS,
      ),
    ),
  );
}

/** Commands Redis ran (INFO commandstats, the scripts' inner calls included), INFO left out. */
function commandCalls(info: string): number {
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) {
    if (match[1] !== 'info') calls += Number(match[2]);
  }
  return calls;
}

/** What the Redis offline store costs Redis, and where it puts inboxes on a cluster. */
describe('Redis offline store: cost and placement', () => {
  it('a burst of adds costs Redis at most two commands each, inner calls included (one Redis)', async () => {
    const redis = await TestRedis.start();
    const connections = new RedisConnections(resolveRealtimeOptions({ redis: { url: redis.url } }));
    try {
      const store = new RedisOfflineStore(connections);
      await burst(store, 'warm', 10);
      const before = commandCalls(await redis.command('INFO', 'commandstats'));
      await burst(store, 'burst', 400);
      const after = commandCalls(await redis.command('INFO', 'commandstats'));
      expect((after - before) / 400).toBeLessThanOrEqual(2);
      expect((await store.stats()).pending).toBe(410);
    } finally {
      await connections.onApplicationShutdown();
      await redis.stop();
    }
  }, 30_000);

  it('spreads the inboxes of 300 users over 3 masters, none holding more than 60%', async () => {
    const cluster = await TestRedisCluster.start({ masters: 3 });
    const connections = new RedisConnections(
      resolveRealtimeOptions({ redis: { cluster: { nodes: cluster.startupNodes } } }),
    );
    try {
      const store = new RedisOfflineStore(connections);
      await burst(store, 'spread', 300);
      const masters = [...new Set((await cluster.slotOwners()).values())];
      const held = await Promise.all(
        masters.map(async (port) => {
          const client = new Redis({ port, lazyConnect: true });
          try {
            await client.connect();
            return (await client.keys('*:box:spread-user-*')).length;
          } finally {
            client.disconnect();
          }
        }),
      );
      expect(held.reduce((a, b) => a + b, 0)).toBe(300);
      expect(held.every((count) => count > 0 && count <= 180)).toBe(true);
    } finally {
      await connections.onApplicationShutdown();
      await cluster.stop();
    }
  }, 60_000);
});
