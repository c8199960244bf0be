import { BroadcastService } from '@nest-realtime/server';
import { LibraryApp } from '../support/library-app';
import { TestRedis } from '../support/redis-server';

/**
 * Issue "Hardening against hostile clients", items 1b and 3a, against a real
 * listening server on each engine: history has a byte ceiling, and subscribe
 * churn on topics nobody publishes to cannot evict retained history.
 */
describe.each(['memory', 'redis'] as const)('retained history bounds (%s engine)', (engine) => {
  let redis: TestRedis | undefined;
  let app: LibraryApp;

  beforeAll(async () => {
    redis = engine === 'redis' ? await TestRedis.start() : undefined;
    app = await LibraryApp.start({
      realtime: {
        topics: { news: { subscribe: 'public' }, churn: { subscribe: 'public' } },
        history: { size: 100, maxTopics: 2, maxBytes: 2_500 },
        limits: { maxSubscriptions: 1_000 },
        ...(redis ? { redis: { url: redis.url } } : {}),
      },
    });
  });
  afterAll(async () => {
    await app?.stop();
    await redis?.stop();
  });

  it('an anonymous client churning subscriptions to unpublished topics does not evict history', async () => {
    const realtime = app.app.get(BroadcastService);
    const first = await realtime.publish('news', 'headline', { n: 1 });
    const second = await realtime.publish('news', 'headline', { n: 2 });
    const attacker = await app.connect();
    for (let batch = 0; batch < 5; batch++) {
      const topics = Array.from({ length: 40 }, (_, i) => `churn:${batch}-${i}`);
      expect((await attacker.request('subscribe', { topics })).event).toBe('subscribed');
      expect((await attacker.request('unsubscribe', { topics })).event).toBe('unsubscribed');
    }
    const reader = await app.connect();
    const reply = await reader.request('subscribe', {
      topics: ['news'],
      since: { news: first },
    });
    expect(reply.data.topics).toEqual([{ topic: 'news', offset: second, recovered: true }]);
    await reader.waitForCount('message', 1);
    expect(reader.messages('news').map((m) => m.payload)).toEqual([{ n: 2 }]);
  });

  it('keeps at most history.maxBytes per topic, dropping the oldest', async () => {
    const realtime = app.app.get(BroadcastService);
    const big = 'x'.repeat(1_000);
    const offsets: string[] = [];
    for (let i = 0; i < 4; i++) offsets.push(await realtime.publish('news:big', 'blob', big));
    const reader = await app.connect();
    const lost = await reader.request('subscribe', {
      topics: ['news:big'],
      since: { 'news:big': offsets[0] },
    });
    expect(lost.data.topics[0]).toMatchObject({ recovered: false });
    const other = await app.connect();
    const kept = await other.request('subscribe', {
      topics: ['news:big'],
      since: { 'news:big': offsets[1] },
    });
    expect(kept.data.topics[0]).toMatchObject({ recovered: true, offset: offsets[3] });
    await other.waitForCount('message', 2);
    expect(other.messages('news:big').map((m) => m.offset)).toEqual(offsets.slice(2));
  });
});
