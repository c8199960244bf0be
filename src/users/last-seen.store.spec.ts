import { TestRedisCluster } from '../../test/support/redis-cluster';
import { TestRedis } from '../../test/support/redis-server';
import { type LastSeenRedisOptions, LastSeenStore } from './last-seen.store';

jest.setTimeout(60_000);

describe('LastSeenStore', () => {
  let redis: TestRedis;
  let cluster: TestRedisCluster;
  const stores: LastSeenStore[] = [];

  beforeAll(async () => {
    [redis, cluster] = await Promise.all([TestRedis.start(), TestRedisCluster.start()]);
  });

  beforeEach(async () => {
    await Promise.all([redis, ...cluster.nodes].map((node) => node.command('FLUSHALL')));
  });

  afterAll(async () => {
    for (const store of stores) await store.onApplicationShutdown();
    await Promise.all([redis?.stop(), cluster?.stop()]);
  });

  function open(backend: LastSeenRedisOptions | undefined, maxUsers = 10): LastSeenStore {
    const opened = new LastSeenStore(backend, maxUsers);
    stores.push(opened);
    return opened;
  }

  const inRedis: Array<[string, () => LastSeenRedisOptions]> = [
    ['in Redis', () => ({ url: redis.url })],
    ['in Redis Cluster', () => ({ cluster: { nodes: cluster.startupNodes } })],
  ];

  describe.each<[string, () => LastSeenRedisOptions | undefined]>([
    ['in memory', () => undefined],
    ...inRedis,
  ])('%s', (_, backend) => {
    const store = (maxUsers: number) => open(backend(), maxUsers);

    it('moves a time only forward: a retried, older event never overwrites a newer one', async () => {
      const lastSeen = store(10);
      await lastSeen.record('forward', 2_000);
      await lastSeen.record('forward', 1_000);
      expect(await lastSeen.lastSeen('forward')).toBe(2_000);
      expect(await lastSeen.lastSeen('never-seen')).toBeNull();
    });

    it('keeps at most its bound of users, forgetting the longest-gone first', async () => {
      const lastSeen = store(3);
      for (const [user, at] of [
        ['a', 1],
        ['b', 2],
        ['c', 3],
        ['a', 4],
        ['d', 5],
      ] as const) {
        await lastSeen.record(`bound-${user}`, at);
      }
      const kept = await Promise.all(
        ['a', 'b', 'c', 'd'].map((u) => lastSeen.lastSeen(`bound-${u}`)),
      );
      expect(kept).toEqual([4, null, 3, 5]);
    });
  });

  it.each(inRedis)('%s, is shared by every instance of the demo', async (_, backend) => {
    const [writer, reader] = [open(backend()), open(backend())];
    await writer.record('shared', 7_000);
    expect(await reader.lastSeen('shared')).toBe(7_000);
  });
});
