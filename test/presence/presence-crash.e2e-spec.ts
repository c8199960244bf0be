import { DemoProcess } from '../support/demo-process';
import { TestRedis } from '../support/redis-server';
import { sleep } from '../support/waits';
import type { TestClient } from '../support/ws-client';

jest.setTimeout(60_000);

const TTL_S = 3;

/**
 * PROTOCOL.md §5: an instance that dies without closing stops counting in
 * presence within REALTIME_PRESENCE_TTL_S. Two demo processes on one Redis;
 * B is killed with SIGKILL while its users sit in `chat:room` and `orders`.
 */
describe('presence when an instance is killed', () => {
  let redis: TestRedis;
  let a: DemoProcess;
  let b: DemoProcess;

  beforeAll(async () => {
    redis = await TestRedis.start();
    const env = {
      REDIS_URL: redis.url,
      REALTIME_PRESENCE_TTL_S: String(TTL_S),
      REALTIME_PRESENCE_DIFF_MS: '200',
      REALTIME_CLEANUP_INTERVAL_MS: '1000',
    };
    [a, b] = await DemoProcess.startMany(2, env);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.kill()]);
    await redis?.stop();
  });

  const counts = async (client: TestClient, topic: string) => {
    const reply = await client.request('presence', { topic, limit: 0 });
    expect(reply.event).toBe('presence');
    return { connections: reply.data.connections as number, users: reply.data.users as number };
  };

  it('drops every entry of the killed instance from every count within the TTL; watchers see its users leave; user.offline records their last seen', async () => {
    const watcher = await a.connect({ token: await a.token('watcher') });
    const reply = await watcher.request('subscribe', {
      topics: ['chat:room', 'orders'],
      presence: true,
    });
    expect(reply.event).toBe('subscribed');
    const doomed = ['ann', 'bob', 'cid', 'dan', 'eve'];
    for (const user of doomed) {
      const token = await a.token(user);
      await b.connect({ token, subscribe: 'chat:room,orders' });
    }
    const deadline = Date.now() + 10_000;
    while ((await counts(watcher, 'chat:room')).users < 6 && Date.now() < deadline) await sleep(50);
    expect(await counts(watcher, 'chat:room')).toEqual({ connections: 6, users: 6 });
    expect(await counts(watcher, 'orders')).toEqual({ connections: 6, users: 6 });
    const joinedBy = watcher.frames.length;

    const killedAt = Date.now();
    await b.kill();
    // Every entry of B was renewed before the kill with a deadline at most the TTL ahead: a read
    // that starts once the TTL has passed since the kill finds none of them (the poll's own
    // duration is no part of the bound).
    await sleep(killedAt + TTL_S * 1_000 + 1 - Date.now());
    expect(await counts(watcher, 'chat:room')).toEqual({ connections: 1, users: 1 });
    expect(await counts(watcher, 'orders')).toEqual({ connections: 1, users: 1 });

    const left = () =>
      watcher.frames
        .slice(joinedBy)
        .filter((frame) => frame.event === 'presence_diff' && frame.data.topic === 'chat:room')
        .flatMap((frame) => frame.data.left as string[]);
    const until = Date.now() + 5_000;
    while (left().length < doomed.length && Date.now() < until) await sleep(50);
    expect(left().sort()).toEqual(doomed);

    // Nobody saw them leave: the cleanup job's sweep tells user.offline, and the demo's own
    // handler records their last seen, before the kill.
    const reader = await a.token('reader');
    for (const user of doomed) {
      const seen = async () =>
        (await a.http('GET', `/users/${user}/presence`, undefined, reader)).body as {
          online: boolean;
          lastSeen: number | null;
        };
      const stop = Date.now() + 10_000;
      while ((await seen()).lastSeen === null && Date.now() < stop) await sleep(100);
      const presence = await seen();
      expect(presence.online).toBe(false);
      expect(presence.lastSeen).toBeLessThanOrEqual(killedAt);
      expect(presence.lastSeen).toBeGreaterThan(killedAt - TTL_S * 1_000);
    }
  });
});
