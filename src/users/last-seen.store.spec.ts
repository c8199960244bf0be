import { TestRedis } from '../../test/support/redis-server';
import { LastSeenStore } from './last-seen.store';

describe('LastSeenStore', () => {
  let redis: TestRedis;
  const stores: LastSeenStore[] = [];

  beforeAll(async () => {
    redis = await TestRedis.start();
  });

  beforeEach(async () => {
    await redis.command('FLUSHALL');
  });

  afterAll(async () => {
    for (const store of stores) await store.onApplicationShutdown();
    await redis.stop();
  });

  describe.each([
    ['in memory', () => undefined],
    ['in Redis', () => redis.url],
  ])('%s', (_, url) => {
    function store(maxUsers: number): LastSeenStore {
      const opened = new LastSeenStore(url(), maxUsers);
      stores.push(opened);
      return opened;
    }

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
});
