import Redis from 'ioredis';
import { DemoProcess } from '../support/demo-process';
import { TestRedis } from '../support/redis-server';
import type { TestClient } from '../support/ws-client';

jest.setTimeout(60_000);

interface Order {
  id: string;
  ownerId: string;
}

/**
 * PROTOCOL §7, POST /orders with Idempotency-Key: a repeat after an attempt
 * that failed (503) still publishes the order, once per topic, and returns
 * the order the first attempt drew, on whichever instance it lands.
 */
describe('POST /orders repeated after a failed publish (Redis mode, two instances)', () => {
  let redis: TestRedis;
  let admin: Redis;
  let a: DemoProcess;
  let b: DemoProcess;

  beforeAll(async () => {
    redis = await TestRedis.start();
    admin = new Redis(redis.url);
    [a, b] = await DemoProcess.startMany(2, { REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    admin?.disconnect();
    await redis?.stop();
  });

  /**
   * Every instance loses its publish connection and cannot open it again
   * (Redis at `maxclients`), while its other connections to Redis stay up:
   * publishes fail at once (503), as in an outage, but the idempotency
   * records the first attempt writes still get to Redis.
   */
  async function losePublishConnections(): Promise<void> {
    await admin.config('SET', 'maxclients', '1');
    const clients = (await admin.client('LIST')) as string;
    const publishers = clients
      .split('\n')
      .filter((line) => / name=realtime:publisher /.test(line))
      .map((line) => /^id=(\d+) /.exec(line)?.[1] ?? '');
    expect(publishers).toHaveLength(2);
    for (const id of publishers) await admin.client('KILL', 'ID', id);
  }

  async function restorePublishConnections(): Promise<void> {
    await admin.config('SET', 'maxclients', '10000');
    // Healthy only with the publish connection ready again.
    await Promise.all([a.healthBecomes(200), b.healthBecomes(200)]);
  }

  async function watch(instance: DemoProcess, token: string, owner: string): Promise<TestClient> {
    const watcher = await instance.connect({ token });
    const reply = await watcher.request('subscribe', { topics: ['orders', `user:${owner}`] });
    expect(reply.event).toBe('subscribed');
    return watcher;
  }

  /**
   * The `order.created` payloads of `owner` on each topic, read once an order
   * placed afterwards (`later`) arrived on both: a topic's messages come in
   * offset order, so nothing published before it is still on the way.
   */
  async function createdOn(watcher: TestClient, owner: string, later: Order) {
    const topics = ['orders', `user:${owner}`];
    for (const topic of topics) {
      await watcher.waitFor(
        (f) => f.event === 'message' && f.data.topic === topic && f.data.payload?.id === later.id,
        { timeoutMs: 10_000 },
      );
    }
    return topics.map((topic) =>
      watcher
        .messages(topic)
        .filter((m) => m.type === 'order.created' && m.payload.ownerId === owner)
        .map((m) => m.payload as Order),
    );
  }

  it('a repeat on the same instance after a 503 publishes the order on orders and user:<owner>, once each', async () => {
    const token = await a.token('retrier');
    const watcher = await watch(b, token, 'retrier');
    const body = { items: [{ sku: 'sku-1', qty: 2 }] };
    const key = { 'idempotency-key': 'checkout-1' };

    await losePublishConnections();
    try {
      expect((await a.http('POST', '/orders', body, token, key)).status).toBe(503);
    } finally {
      await restorePublishConnections();
    }

    const placed = await a.http('POST', '/orders', body, token, key);
    expect(placed.status).toBe(201);
    expect(placed.body).toMatchObject({ ownerId: 'retrier', items: body.items });
    const repeated = await a.http('POST', '/orders', body, token, key);
    expect(repeated.status).toBe(201);
    expect(repeated.body).toEqual(placed.body);

    const later = await a.http('POST', '/orders', body, token);
    expect(later.status).toBe(201);
    expect(await createdOn(watcher, 'retrier', later.body as Order)).toEqual([
      [placed.body, later.body],
      [placed.body, later.body],
    ]);
  });

  it('a repeat on another instance after a 503 returns the order the first attempt drew, published once', async () => {
    const token = await a.token('switcher');
    const watcher = await watch(a, token, 'switcher');
    const first = { items: [{ sku: 'first', qty: 1 }] };
    const key = { 'idempotency-key': 'checkout-2' };

    await losePublishConnections();
    try {
      expect((await a.http('POST', '/orders', first, token, key)).status).toBe(503);
    } finally {
      await restorePublishConnections();
    }

    // The repeats carry other items: the key names the first attempt's order, whatever they say.
    const onB = await b.http('POST', '/orders', { items: [{ sku: 'second', qty: 2 }] }, token, key);
    expect(onB.status).toBe(201);
    expect(onB.body).toMatchObject({ ownerId: 'switcher', items: first.items });
    const onA = await a.http('POST', '/orders', { items: [{ sku: 'third', qty: 3 }] }, token, key);
    expect(onA.status).toBe(201);
    expect(onA.body).toEqual(onB.body);

    const later = await b.http('POST', '/orders', first, token);
    expect(later.status).toBe(201);
    expect(await createdOn(watcher, 'switcher', later.body as Order)).toEqual([
      [onB.body, later.body],
      [onB.body, later.body],
    ]);
  });
});
