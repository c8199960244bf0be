import { resolveRealtimeOptions } from '../options/resolve-options';
import { FixedWindowStorage } from './fixed-window.storage';

describe('FixedWindowStorage', () => {
  afterEach(() => jest.useRealTimers());

  it('counts hits per key within a window and blocks past the limit', async () => {
    jest.useFakeTimers({ now: 10_000 });
    const storage = new FixedWindowStorage(resolveRealtimeOptions());
    const hits = [];
    for (let i = 0; i < 4; i++) hits.push(await storage.increment('a', 1_000, 3));
    expect(hits.map((h) => [h.totalHits, h.isBlocked])).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, true],
    ]);
    expect((await storage.increment('b', 1_000, 3)).totalHits).toBe(1);
    jest.setSystemTime(11_000);
    expect(await storage.increment('a', 1_000, 3)).toMatchObject({
      totalHits: 1,
      isBlocked: false,
    });
    storage.onApplicationShutdown();
  });

  it('stays bounded by limits.maxTrackedKeys', async () => {
    const storage = new FixedWindowStorage(
      resolveRealtimeOptions({ limits: { maxTrackedKeys: 100 } }),
    );
    for (let i = 0; i < 1_000; i++) await storage.increment(`k${i}`, 60_000, 10);
    expect(storage.size).toBe(100);
    storage.onApplicationShutdown();
  });
});
