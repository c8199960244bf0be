import { DemoProcess } from '../support/demo-process';
import { barrier } from '../support/frame-helpers';
import { REDIS_BACKENDS, type RedisBackend } from '../support/redis-backends';

async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 8_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Redis mode through the demo's routes: the inbox lives in Redis, not in any instance. */
describe.each(REDIS_BACKENDS)(
  'offline delivery across instances on %s (demo processes)',
  (_name, startBackend) => {
    let redis: RedisBackend;
    let instances: DemoProcess[] = [];
    let env: NodeJS.ProcessEnv;

    const start = async (): Promise<DemoProcess> => {
      const instance = await DemoProcess.start(env);
      instances.push(instance);
      return instance;
    };

    beforeAll(async () => {
      redis = await startBackend();
      env = redis.env;
    }, 30_000);

    afterEach(async () => {
      await Promise.all(instances.map((instance) => instance.stop()));
      instances = [];
    });

    afterAll(() => redis.stop());

    const notify = async (
      on: DemoProcess,
      userId: string,
      message: string,
      ttlSeconds?: number,
    ) => {
      const admin = await on.token('ops', ['admin']);
      const response = await on.http(
        'POST',
        '/admin/notify',
        { userId, message, ttlSeconds },
        admin,
      );
      expect(response.status).toBe(202);
      expect(response.body).toEqual({ id: expect.any(String) });
      return response.body.id as string;
    };

    const offlineStats = async (on: DemoProcess) => {
      const admin = await on.token('ops', ['admin']);
      const response = await on.http('GET', '/ws/stats', undefined, admin);
      expect(response.status).toBe(200);
      return response.body.offline as { pending: number; delivered: number; deadLettered: number };
    };

    it('notify on A, connect on B: delivered right after connected; acked on B, gone on A', async () => {
      const [a, b] = [await start(), await start()];
      const id = await notify(a, 'alice', 'order shipped');
      const client = await b.connect({ token: await b.token('alice') });
      const frame = await client.waitFor((f) => f.event === 'message');
      expect(client.frames.indexOf(frame)).toBe(1);
      expect(frame.data).toEqual({
        topic: '$user',
        type: 'notification',
        payload: { message: 'order shipped' },
        ts: expect.any(Number),
        id,
      });
      expect((await client.request('ack', { ids: [id] })).data.ids).toEqual([id]);
      const again = await a.connect({ token: await a.token('alice') });
      await barrier(again);
      expect(again.messages('$user')).toEqual([]);
      expect(await offlineStats(a)).toEqual(await offlineStats(b));
    });

    it('notify on A reaches the user connected on B at once, with its id', async () => {
      const [a, b] = [await start(), await start()];
      const client = await b.connect({ token: await b.token('erin') });
      const id = await notify(a, 'erin', 'live');
      const frame = await client.waitFor((f) => f.event === 'message');
      expect(frame.data).toMatchObject({ topic: '$user', id, payload: { message: 'live' } });
    });

    it('survives a restart of every instance between notify and connect', async () => {
      const a = await start();
      const id = await notify(a, 'bob', 'while you were away');
      await a.stop();
      instances = [];
      const c = await start();
      const client = await c.connect({ token: await c.token('bob') });
      const frame = await client.waitFor((f) => f.event === 'message');
      expect(frame.data.id).toBe(id);
    });

    it('past the TTL: dead-lettered once cluster-wide, the app hook runs, the counters move', async () => {
      const [a, b] = [await start(), await start()];
      const before = await offlineStats(a);
      const id = await notify(a, 'carol', 'too late', 1);
      expect((await offlineStats(b)).pending).toBe(before.pending + 1);
      await eventually(
        async () => (await offlineStats(b)).deadLettered === before.deadLettered + 1,
      );
      const hook = new RegExp(`dead letter ${id} \\(expired\\) for user "carol"`, 'g');
      await eventually(() => (a.output + b.output).match(hook)?.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((a.output + b.output).match(hook)).toHaveLength(1);
      const client = await b.connect({ token: await b.token('carol') });
      await barrier(client);
      expect(client.messages('$user')).toEqual([]);
    });

    it('POST /orders with Idempotency-Key: the same order back from any instance', async () => {
      const [a, b] = [await start(), await start()];
      const token = await a.token('dave');
      const watchers = [
        await a.connect({ token, subscribe: 'user:dave' }),
        await b.connect({ token, subscribe: 'user:dave' }),
      ];
      for (const watcher of watchers) await watcher.waitFor((f) => f.event === 'subscribed');
      const body = { items: [{ sku: 'sku-1', qty: 2 }] };
      const headers = { 'idempotency-key': 'checkout-42' };
      const replies = await Promise.all([
        a.http('POST', '/orders', body, token, headers),
        a.http('POST', '/orders', body, token, headers),
        b.http('POST', '/orders', body, token, headers),
      ]);
      for (const reply of replies) expect(reply.status).toBe(201);
      expect(new Set(replies.map((reply) => reply.body.id)).size).toBe(1);
      // Published once: every watcher, on either instance, sees it once.
      for (const watcher of watchers) {
        await watcher.waitFor((f) => f.event === 'message');
        await barrier(watcher);
        const created = watcher.messages('user:dave').filter((m) => m.type === 'order.created');
        expect(created.map((m) => m.payload.id)).toEqual([replies[0].body.id]);
      }
      const other = await a.http('POST', '/orders', body, token, {
        'idempotency-key': 'checkout-43',
      });
      expect(other.body.id).not.toBe(replies[0].body.id);
      const plain = await a.http('POST', '/orders', body, token);
      expect(plain.body.id).not.toBe(replies[0].body.id);
    });
  },
);
