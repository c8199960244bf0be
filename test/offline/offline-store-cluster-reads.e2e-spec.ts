import { resolveRealtimeOptions } from '@nest-realtime/server';
import Redis from 'ioredis';
import {
  type InboxLimits,
  retain,
} from '../../libs/realtime/src/delivery/offline/offline-store.port';
import {
  CLUSTER_PARTITIONS,
  RedisOfflineStore,
} from '../../libs/realtime/src/delivery/offline/redis-offline.store';
import { PresenceKeys } from '../../libs/realtime/src/presence/presence-keys';
import { RedisPresenceStore } from '../../libs/realtime/src/presence/redis-presence.store';
import { hashSlot } from '../../libs/realtime/src/redis/hash-slot';
import { partitionOf, spreadPartitionTags } from '../../libs/realtime/src/redis/partition-tags';
import { RedisConnections } from '../../libs/realtime/src/redis/redis-connections.service';
import { TestRedisCluster } from '../support/redis-cluster';
import { waitUntil } from '../support/waits';

const LIMITS: InboxLimits = {
  maxMessages: 10,
  maxBytes: 10_000,
  whenFull: 'reject',
  deadLetterLimit: 10,
};

/**
 * The inbox reads at connect on a 3-master cluster: one script call per
 * round trip and master, the partitions a master serves sharing it.
 */
describe('Redis offline store: inbox reads on a cluster, one script call per master', () => {
  let cluster: TestRedisCluster;
  let connections: RedisConnections;
  let store: RedisOfflineStore;
  /** Each partition's slot, as the store computes it. */
  let partitionSlots: number[];
  let prefix = 0;

  beforeAll(async () => {
    cluster = await TestRedisCluster.start({ masters: 3 });
  }, 30_000);
  afterAll(() => cluster.stop());
  beforeEach(async () => {
    connections = new RedisConnections(
      resolveRealtimeOptions({
        redis: { cluster: { nodes: cluster.startupNodes }, keyPrefix: `c${++prefix}:` },
      }),
    );
    const layout = connections.layout;
    partitionSlots = spreadPartitionTags(CLUSTER_PARTITIONS, (tag) =>
      layout.offlinePartition(tag),
    ).map((tag) => hashSlot(layout.offlinePartition(tag)));
    store = new RedisOfflineStore(connections);
    // Warm: the first read moves an older layout's messages, and loads the script.
    await store.pending('warm', Date.now());
  });
  afterEach(() => connections.onApplicationShutdown());

  function message(userId: string, id: string) {
    const ts = Date.now();
    return retain({ id, userId, type: 't', payload: { id }, ts, expiresAt: ts + 60_000 });
  }

  const slotOfUser = (userId: string) => partitionSlots[partitionOf(userId, CLUSTER_PARTITIONS)];

  /** Script runs on every master, in all. */
  async function scriptRuns(): Promise<number> {
    const runs = await Promise.all(cluster.nodes.map((node) => node.scriptRuns()));
    return runs.reduce((sum, n) => sum + n, 0);
  }

  const ids = (messages: Array<{ id: string }>) => messages.map((m) => m.id);

  it('reads the inboxes of one turn in one call per master, each user its own messages in order', async () => {
    const users = Array.from({ length: 40 }, (_, n) => `user-${n}`);
    expect(new Set(users.map(slotOfUser)).size).toBeGreaterThan(3);
    for (const user of users) {
      await store.add(message(user, `${user}-a`), LIMITS);
      await store.add(message(user, `${user}-b`), LIMITS);
    }
    const before = await scriptRuns();
    const read = await Promise.all(users.map((user) => store.pending(user, Date.now())));
    expect(read.map(ids)).toEqual(users.map((user) => [`${user}-a`, `${user}-b`]));
    expect((await scriptRuns()) - before).toBe(3);
  }, 30_000);

  it('reads correctly after a partition moved to another master behind the client (stale slot map)', async () => {
    const users = Array.from({ length: 40 }, (_, n) => `moved-${n}`);
    for (const user of users) await store.add(message(user, `${user}-a`), LIMITS);
    const owners = await cluster.slotOwners();
    const slot = slotOfUser(users[0]);
    const elsewhere = [...new Set(owners.values())].find((port) => port !== owners.get(slot))!;
    await cluster.moveSlot(slot, elsewhere);
    const read = await Promise.all(users.map((user) => store.pending(user, Date.now())));
    expect(read.map(ids)).toEqual(users.map((user) => [`${user}-a`]));
  }, 30_000);

  it("sends a connection's inbox read after its presence write on the master serving both", async () => {
    const presence = new RedisPresenceStore(connections, { maxLogEntries: 256, keepMs: 600_000 });
    const keys = new PresenceKeys(connections.layout);
    const owners = await cluster.slotOwners();
    const presencePort = owners.get(hashSlot(keys.user('any')))!;
    // Two users in different partitions of that master: their reads leave in one call on it.
    const [reader, other] = Array.from({ length: 200 }, (_, n) => `p-${n}`)
      .filter((user) => owners.get(slotOfUser(user)) === presencePort)
      .filter((user, i, all) => all.findIndex((u) => slotOfUser(u) === slotOfUser(user)) === i);
    expect(other).toBeDefined();
    const now = Date.now();
    await presence.connect('i1', { connectionId: 'c0', userId: 'warm' }, now + 60_000, now);
    // monitor() opens a connection of its own: the lazy client never connects.
    const direct = new Redis({ host: '127.0.0.1', port: presencePort, lazyConnect: true });
    const monitor = await direct.monitor();
    const executed: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => executed.push(args));
    try {
      // As a handshake does: the presence write is queued, then the reads.
      const written = presence.connect(
        'i1',
        { connectionId: 'c1', userId: reader },
        now + 60_000,
        now,
      );
      const reads = [store.pending(reader, now), store.pending(other, now)];
      expect(await Promise.all([written, ...reads])).toEqual([true, [], []]);
      const isRead = (args: string[]) =>
        args[0].toLowerCase() === 'hvals' && args[1].endsWith(`box:${reader}`);
      await waitUntil(() => executed.some(isRead), 2_000, 'the read in MONITOR');
      const writtenAt = executed.findIndex(
        (args) => args[0].toLowerCase() === 'zadd' && args[1] === keys.user(reader),
      );
      expect(writtenAt).toBeGreaterThanOrEqual(0);
      expect(executed.findIndex(isRead)).toBeGreaterThan(writtenAt);
    } finally {
      monitor.disconnect();
      direct.disconnect();
    }
  }, 30_000);
});
