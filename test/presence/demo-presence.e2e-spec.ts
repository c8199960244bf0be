import { DemoApp } from '../support/demo-app';
import { DemoProcess } from '../support/demo-process';
import { TestRedis } from '../support/redis-server';
import { sleep } from '../support/waits';

const GRACE_MS = 300;

interface UserPresence {
  userId: string;
  online: boolean;
  lastSeen: number | null;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`not in time: ${JSON.stringify(value)}`);
    await sleep(25);
  }
}

/** PROTOCOL §7: GET /users/:id/presence; lastSeen written by the demo's own user.offline handler. */
describe('the demo: GET /users/:id/presence', () => {
  it('online while connected; lastSeen after the grace, from the app handler; refused without a token or with a bad id', async () => {
    const app = await DemoApp.start({ REALTIME_OFFLINE_GRACE_MS: String(GRACE_MS) });
    try {
      const reader = await app.token('reader');
      const read = async (id: string) =>
        (await app.http('GET', `/users/${id}/presence`, undefined, reader)).body as UserPresence;
      expect(await read('ann')).toEqual({ userId: 'ann', online: false, lastSeen: null });
      const ann = await app.connect({ token: await app.token('ann') });
      await until(
        () => read('ann'),
        (p) => p.online,
      );
      const closedAt = Date.now();
      await ann.close();
      const seen = await until(
        () => read('ann'),
        (p) => p.lastSeen !== null,
      );
      expect(seen.online).toBe(false);
      expect(seen.lastSeen).toBeGreaterThanOrEqual(closedAt - 1_000);
      expect(Date.now() - closedAt).toBeGreaterThanOrEqual(GRACE_MS);
      expect((await app.http('GET', '/users/ann/presence')).status).toBe(401);
      expect((await app.http('GET', '/users/a%20b/presence', undefined, reader)).status).toBe(400);
    } finally {
      await app.stop();
    }
  });

  it('across two instances on one Redis: online on either, lastSeen on either', async () => {
    const redis = await TestRedis.start();
    const env = { REDIS_URL: redis.url, REALTIME_OFFLINE_GRACE_MS: String(GRACE_MS) };
    const [a, b] = await DemoProcess.startMany(2, env);
    try {
      const reader = await a.token('reader');
      const read = async (instance: DemoProcess, id: string) =>
        (await instance.http('GET', `/users/${id}/presence`, undefined, reader))
          .body as UserPresence;
      const bob = await b.connect({ token: await a.token('bob') });
      await until(
        () => read(a, 'bob'),
        (p) => p.online,
      );
      await bob.close();
      const seen = await until(
        () => read(a, 'bob'),
        (p) => p.lastSeen !== null,
      );
      expect(seen.online).toBe(false);
      expect(await read(b, 'bob')).toEqual(seen);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await redis.stop();
    }
  });
});
