import { resolveRealtimeOptions } from '@nest-realtime/server';
import Redis from 'ioredis';
import {
  type InboxLimits,
  retain,
} from '../../libs/realtime/src/delivery/offline/offline-store.port';
import { RedisOfflineStore } from '../../libs/realtime/src/delivery/offline/redis-offline.store';
import { PresenceKeys } from '../../libs/realtime/src/presence/presence-keys';
import { RedisPresenceStore } from '../../libs/realtime/src/presence/redis-presence.store';
import { RedisConnections } from '../../libs/realtime/src/redis/redis-connections.service';
import { TestRedisCluster } from '../support/redis-cluster';
import { TestRedis } from '../support/redis-server';
import { waitUntil } from '../support/waits';

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
        retain({
          id: `${prefix}-${n}`,
          userId: `${prefix}-user-${n}`,
          type: 't',
          payload: { n },
          ts: now,
          expiresAt: now + 60_000,
        }),
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

  it("a burst's script calls carry its messages in one argument each, not one per message (one Redis)", async () => {
    const redis = await TestRedis.start();
    const connections = new RedisConnections(resolveRealtimeOptions({ redis: { url: redis.url } }));
    const client = new Redis(redis.url);
    const monitor = await client.monitor();
    try {
      const store = new RedisOfflineStore(connections);
      await burst(store, 'warm', 10);
      const calls: string[][] = [];
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (args[0].toLowerCase() === 'evalsha') calls.push(args);
      });
      await burst(store, 'burst', 400);
      await waitUntil(() => calls.length >= 2, 5_000, 'the burst in MONITOR');
      // Two calls (at most 200 adds each), each: sha, key count, 4 keys, 6 shared values, messages
      // (MONITOR shows their newlines escaped).
      expect(calls.map((args) => args.length)).toEqual([14, 14]);
      expect(calls.map((args) => args[13].split('\\n').length)).toEqual([200, 200]);
      expect((await store.stats()).pending).toBe(410);
    } finally {
      monitor.disconnect();
      client.disconnect();
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

/**
 * The inbox reads at connect on one Redis while a read is unanswered (Redis
 * held with CLIENT PAUSE: its clients' writes and scripts wait): the reads
 * of the turns meanwhile leave together in the next call.
 */
describe('Redis offline store: inbox reads, one script call per round trip (one Redis)', () => {
  let redis: TestRedis;
  let direct: Redis;
  let connections: RedisConnections;
  let store: RedisOfflineStore;
  let prefix = 0;

  beforeAll(async () => {
    redis = await TestRedis.start();
    direct = new Redis(redis.url);
  });
  afterAll(async () => {
    direct.disconnect();
    await redis.stop();
  });
  beforeEach(async () => {
    connections = new RedisConnections(
      resolveRealtimeOptions({ redis: { url: redis.url, keyPrefix: `r${++prefix}:` } }),
    );
    store = new RedisOfflineStore(connections);
    // Warm: the first read moves an older layout's messages, and loads the script.
    await store.pending('warm', Date.now());
  });
  afterEach(() => connections.onApplicationShutdown());

  function message(userId: string, id: string, expiresAt: number) {
    const ts = Date.now();
    return retain({ id, userId, type: 't', payload: { id }, ts, expiresAt });
  }

  /**
   * A read is queued a microtask after its call (once the layout migration is
   * known done), so behind the turn's end: a second turn lets its batch send it.
   */
  const READ_QUEUED_TURNS = 2;

  const ids = (messages: Array<{ id: string }>) => messages.map((m) => m.id);

  it('reads the inboxes of the turns behind an unanswered read in one call, each oldest first and by its own clock', async () => {
    const now = Date.now();
    for (const [userId, id, ttl] of [
      ['a', 'a1', 60_000],
      ['b', 'b1', 60_000],
      ['a', 'a2', 60_000],
      ['b', 'b2', 1_000],
      ['c', 'c1', 60_000],
    ] as const) {
      await store.add(message(userId, id, now + ttl), LIMITS);
    }
    const before = await redis.scriptRuns();
    const replies = await redis.callsWhilePaused(
      [
        () => store.pending('a', now),
        // b2 has expired by this reader's clock, not by the others'.
        () => store.pending('b', now + 2_000),
        () => store.pending('c', now),
        () => store.pending('nobody', now),
      ],
      READ_QUEUED_TURNS,
    );
    expect((await Promise.all(replies)).map(ids)).toEqual([['a1', 'a2'], ['b1'], ['c1'], []]);
    // The first turn's read, then one for the three turns that waited behind it.
    expect((await redis.scriptRuns()) - before).toBe(2);
  });

  it('a failed read fails only the reads it carried; those queued behind it leave in the next call', async () => {
    const now = Date.now();
    await store.add(message('d', 'd1', now + 60_000), LIMITS);
    // Not a hash: the read script fails at it, as on a Redis error.
    const boxOfBroken = (await direct.keys(`r${prefix}:*box:d`))[0].replace(/d$/, 'broken');
    await direct.set(boxOfBroken, 'x');
    const replies = await redis.callsWhilePaused(
      [
        () => store.pending('broken', now),
        () => store.pending('d', now),
        () => store.pending('e', now),
      ],
      READ_QUEUED_TURNS,
    );
    const settled = await Promise.all(
      replies.map((reply) => reply.then(ids, (error: Error) => error.message.slice(0, 9))),
    );
    expect(settled).toEqual(['WRONGTYPE', ['d1'], []]);
    // And the next read gets a call of its own.
    expect(ids(await store.pending('d', now))).toEqual(['d1']);
  });

  it("sends a connection's inbox read after its presence write, even when that write waits for an earlier call", async () => {
    const presence = new RedisPresenceStore(connections, { maxLogEntries: 256, keepMs: 600_000 });
    const keys = new PresenceKeys(connections.layout);
    const now = Date.now();
    await presence.connect('i1', { connectionId: 'c0', userId: 'warm' }, now + 60_000, now);
    const monitor = await direct.monitor();
    const executed: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => executed.push(args));
    try {
      const [first] = await redis.callsWhilePaused(
        [() => presence.connect('i1', { connectionId: 'c1', userId: 'u1' }, now + 60_000, now)],
        READ_QUEUED_TURNS,
      );
      // As a handshake does: the presence write is queued (behind the unanswered call), then the read.
      const second = presence.connect(
        'i1',
        { connectionId: 'c2', userId: 'u2' },
        now + 60_000,
        now,
      );
      const read = store.pending('u2', now);
      expect(await Promise.all([first, second, read])).toEqual([true, true, []]);
      const isRead = (args: string[]) =>
        args[0].toLowerCase() === 'hvals' && args[1].endsWith('box:u2');
      await waitUntil(() => executed.some(isRead), 2_000, 'the read in MONITOR');
      const written = executed.findIndex(
        (args) => args[0].toLowerCase() === 'zadd' && args[1] === keys.user('u2'),
      );
      const readAt = executed.findIndex(isRead);
      expect(written).toBeGreaterThanOrEqual(0);
      expect(readAt).toBeGreaterThan(written);
    } finally {
      monitor.disconnect();
    }
  });
});
