import Redis from 'ioredis';
import { BroadcastService } from '@nest-realtime/server';
import { LibraryApp } from '../support/library-app';
import { TestRedis } from '../support/redis-server';

const HISTORY_TTL_MS = 300_000;
/** Watched topics are kept up every ttl/3 capped at a minute; a meta lives two of those. */
const IDLE_META_TTL_MS = 120_000;

/**
 * Issue 18 item 6: in Redis mode every subscribe to a new topic, anonymous
 * included, created an `rt:meta:*` key for twice the history TTL (600 s),
 * which outlived the connection. A meta made by a subscribe now lives only
 * while an instance watches the topic, and the idle TTL after; only a
 * publish gives it the history's lifetime.
 */
describe('Redis mode: metas of topics nobody publishes to (issue 18, item 6)', () => {
  let redis: TestRedis;
  let app: LibraryApp;
  let inspect: Redis;

  beforeAll(async () => {
    redis = await TestRedis.start();
    inspect = new Redis(redis.url);
    app = await LibraryApp.start({
      realtime: {
        topics: { news: { subscribe: 'public' } },
        limits: { maxSubscriptions: 1_000 },
        redis: { url: redis.url },
      },
    });
  });
  afterAll(async () => {
    await app?.stop();
    inspect?.disconnect();
    await redis?.stop();
  });

  async function ttlsOf(pattern: string): Promise<number[]> {
    const keys = await inspect.keys(pattern);
    return Promise.all(keys.map((key) => inspect.pttl(key)));
  }

  it('an anonymous subscriber leaves metas that expire within the idle TTL, not the history TTL', async () => {
    const client = await app.connect();
    const topics = Array.from({ length: 40 }, (_, i) => `news:idle-${i}`);
    const reply = await client.request('subscribe', { topics });
    expect(reply.event).toBe('subscribed');
    await client.close();

    const ttls = await ttlsOf('rt:meta:news:idle-*');
    expect(ttls).toHaveLength(40);
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(IDLE_META_TTL_MS);
    }
  });

  it('a publish gives the meta the history lifetime, and a subscriber that comes back in time recovers', async () => {
    const reader = await app.connect();
    const subscribed = await reader.request('subscribe', { topics: ['news:kept'] });
    const head = subscribed.data.topics[0].offset as string;
    await reader.close();
    // Back within the grace: the epoch it was given still holds, so nothing is lost.
    const offset = await app.app.get(BroadcastService).publish('news:kept', 'n', { n: 1 });
    expect(offset.split('-')[0]).toBe(head.split('-')[0]);
    const [ttl] = await ttlsOf('rt:meta:news:kept');
    expect(ttl).toBeGreaterThan(IDLE_META_TTL_MS);
    expect(ttl).toBeLessThanOrEqual(2 * HISTORY_TTL_MS);

    const back = await app.connect();
    const recovered = await back.request('subscribe', {
      topics: ['news:kept'],
      since: { 'news:kept': head },
    });
    expect(recovered.data.topics[0]).toMatchObject({ recovered: true, offset });
    await back.waitForCount('message', 1);
    expect(back.messages('news:kept').map((m) => m.payload)).toEqual([{ n: 1 }]);
  });
});
