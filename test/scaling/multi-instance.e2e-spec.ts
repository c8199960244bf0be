import { BroadcastService } from '@nest-realtime/server';
import { DemoApp } from '../support/demo-app';
import { DemoProcess } from '../support/demo-process';
import { decodeJwt } from '../support/jwt';
import { REDIS_BACKENDS, type RedisBackend } from '../support/redis-backends';
import { closeOf } from '../support/waits';
import type { TestClient } from '../support/ws-client';

jest.setTimeout(30_000);

/**
 * PROTOCOL.md §7 "Redis mode" (and "Redis Cluster"): instances on one Redis,
 * or on one Redis Cluster, are one server. A is the demo in this process (so
 * the test can call BroadcastService), B and C are demo processes; D is
 * started later for the revocation test.
 */
describe.each(REDIS_BACKENDS)('several instances on %s', (_name, startBackend) => {
  let redis: RedisBackend;
  let a: DemoApp;
  let b: DemoProcess;
  let c: DemoProcess;
  let admin: string;

  beforeAll(async () => {
    redis = await startBackend();
    const env = redis.env;
    [a, b, c] = await Promise.all([
      DemoApp.start(env),
      DemoProcess.start(env),
      DemoProcess.start(env),
    ]);
    admin = await a.token('root', ['admin']);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    await redis?.stop();
  });

  async function subscribed(instance: DemoApp | DemoProcess, topics: string[], user = 'reader') {
    const client = await instance.connect({ token: await a.token(user) });
    const reply = await client.request('subscribe', { topics });
    expect(reply.event).toBe('subscribed');
    return client;
  }

  /** The engine figures of an instance, from GET /ws/stats. */
  async function engineOf(instance: DemoApp | DemoProcess): Promise<Record<string, any>> {
    const response = await instance.http('GET', '/ws/stats', undefined, admin);
    expect(response.status).toBe(200);
    return (response.body as { engine: Record<string, any>; instanceId: string }).engine;
  }

  it('reports the Redis engine and a distinct instance id on each instance', async () => {
    const stats = await Promise.all(
      [a, b, c].map(async (instance) => {
        const response = await instance.http('GET', '/ws/stats', undefined, admin);
        return response.body as { instanceId: string; engine: { engine: string; state: string } };
      }),
    );
    expect(stats.map((s) => s.engine)).toEqual(
      Array(3).fill(expect.objectContaining({ engine: 'redis', state: 'up' })),
    );
    expect(new Set(stats.map((s) => s.instanceId)).size).toBe(3);
    for (const instance of [a, b, c])
      expect((await instance.http('GET', '/health')).status).toBe(200);
  });

  it('delivers a REST publish and a client publish on A to subscribers on B and C', async () => {
    const onB = await subscribed(b, ['orders', 'chat:room1']);
    const onC = await subscribed(c, ['orders', 'chat:room1']);
    const buyer = await a.token('buyer');
    const order = await a.http('POST', '/orders', { items: [{ sku: 'sku-1', qty: 2 }] }, buyer);
    expect(order.status).toBe(201);
    const publisher = await a.connect({ token: buyer });
    const published = await publisher.request('publish', {
      topic: 'chat:room1',
      type: 'said',
      payload: { text: 'hello' },
    });
    expect(published.event).toBe('published');
    for (const client of [onB, onC]) {
      const created = await client.waitFor((f) => f.data?.type === 'order.created');
      expect(created.data).toMatchObject({
        topic: 'orders',
        payload: { id: (order.body as any).id },
      });
      const said = await client.waitFor((f) => f.data?.type === 'said');
      expect(said.data).toMatchObject({
        topic: 'chat:room1',
        payload: { text: 'hello' },
        offset: published.data.offset,
      });
    }
  });

  it('sends a topic’s traffic only to instances with a subscriber for it (counted)', async () => {
    const onB = await subscribed(b, ['chat:quiet']);
    const [aBefore, bBefore, cBefore] = await Promise.all([a, b, c].map(engineOf));
    const realtime = a.app.get(BroadcastService);
    for (let i = 0; i < 20; i++) await realtime.publish('chat:quiet', 'tick', { i });
    await onB.waitForCount('message', 20);
    const [aAfter, bAfter, cAfter] = await Promise.all([a, b, c].map(engineOf));
    expect(bAfter.received - bBefore.received).toBe(20);
    expect(cAfter.received - cBefore.received).toBe(0);
    expect(aAfter.received - aBefore.received).toBe(0);
    expect(aAfter.published - aBefore.published).toBe(20);
  });

  it('closes sockets on B when A revokes a token, which every instance then refuses, also one started later', async () => {
    const token = await a.token('revoked-user');
    const sibling = await a.token('revoked-user');
    const onB = await b.connect({ token });
    const siblingOnC = await c.connect({ token: sibling });
    const closed = closeOf(onB, 5_000);
    const response = await a.http('POST', '/admin/revoke', { jti: decodeJwt(token).jti }, admin);
    expect(response.status).toBe(202);
    expect(await closed).toMatchObject({ code: 4003 });
    const d = await DemoProcess.start(redis.env);
    try {
      for (const instance of [a, b, c, d]) {
        expect(await instance.tryConnect({ token })).toMatchObject({
          kind: 'refused',
          status: 401,
        });
      }
      expect((await d.tryConnect({ token: sibling })).kind).toBe('open');
      expect(siblingOnC.isOpen).toBe(true);
    } finally {
      await d.stop();
    }
  });

  it('closes a user’s sockets on B and C when A calls disconnectUser', async () => {
    const token = await a.token('kicked');
    const clients = [await b.connect({ token }), await c.connect({ token })];
    const bystander = await b.connect({ token: await a.token('bystander') });
    const closes = clients.map((client) => closeOf(client, 5_000));
    await a.app.get(BroadcastService).disconnectUser('kicked');
    for (const close of await Promise.all(closes)) expect(close.code).toBe(4003);
    expect(bystander.isOpen).toBe(true);
  });

  it('broadcasts and sends to a user on every instance', async () => {
    const token = await a.token('direct');
    const onB = await b.connect({ token });
    const anonymousOnC = await c.connect();
    const realtime = a.app.get(BroadcastService);
    await realtime.broadcast('notice', { n: 1 });
    await realtime.sendToUser('direct', 'dm', { n: 2 });
    await onB.waitFor((f) => f.data?.type === 'notice');
    await onB.waitFor((f) => f.data?.type === 'dm' && f.data?.topic === '$user');
    await anonymousOnC.waitFor((f) => f.data?.type === 'notice');
  });

  it('recovers on another instance exactly the messages missed', async () => {
    const first = await subscribed(b, ['chat:recover']);
    const realtime = a.app.get(BroadcastService);
    await realtime.publish('chat:recover', 'seen', 0);
    await first.waitForCount('message', 1);
    const seen = first.messages('chat:recover')[0].offset as string;
    await first.close();
    const missed: string[] = [];
    for (let i = 1; i <= 3; i++) missed.push(await realtime.publish('chat:recover', 'missed', i));
    const again = await c.connect({ token: await a.token('reader') });
    const reply = await again.request('subscribe', {
      topics: ['chat:recover'],
      since: { 'chat:recover': seen },
    });
    expect(reply.data.topics).toEqual([
      { topic: 'chat:recover', offset: missed[2], recovered: true },
    ]);
    await again.waitForCount('message', 3);
    expect(again.messages('chat:recover').map((m) => [m.offset, m.payload])).toEqual(
      missed.map((offset, i) => [offset, i + 1]),
    );
  });

  it('gives interleaved publishes from A and B one offset order on every subscriber', async () => {
    const subscribers: TestClient[] = [];
    for (const instance of [a, b, c]) subscribers.push(await subscribed(instance, ['chat:order']));
    const publishers = [await a.connect({ token: admin }), await b.connect({ token: admin })];
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        publishers[i % 2].request('publish', { topic: 'chat:order', type: 'n', payload: i }),
      ),
    );
    expect(replies.every((r) => r.event === 'published')).toBe(true);
    for (const client of subscribers) await client.waitForCount('message', 30);
    const orders = subscribers.map((client) => client.messages('chat:order').map((m) => m.offset));
    const sequences = orders[0].map((offset: string) => Number(offset.split('-')[1]));
    expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
    expect(new Set(sequences).size).toBe(30);
    expect(orders[1]).toEqual(orders[0]);
    expect(orders[2]).toEqual(orders[0]);
  });
});
