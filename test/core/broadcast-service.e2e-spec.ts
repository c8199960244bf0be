import { BroadcastService, type CloseCode, type RealtimeStats } from '@nest-realtime/server';
import { DemoApp } from '../support/demo-app';
import { barrier, expectNothingSince } from '../support/frame-helpers';
import type { TestClient } from '../support/ws-client';

/** Polls `read` until `accept` holds, for at most `timeoutMs` (the server releases closed sockets asynchronously). */
async function eventually<T>(
  read: () => T,
  accept: (value: T) => boolean,
  timeoutMs = 3_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = read();
  while (!accept(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    value = read();
  }
  return value;
}

/** Resolves with `promise`, or fails after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The API domain code uses (README, PROTOCOL §3), driven from inside a running app. */
describe('core: BroadcastService from domain code', () => {
  let demo: DemoApp;
  let realtime: BroadcastService;

  beforeAll(async () => {
    demo = await DemoApp.start();
    realtime = demo.app.get(BroadcastService);
  });

  afterAll(() => demo.stop());

  describe('publish', () => {
    it('resolves to the offset its subscribers see, once each, with the payload intact', async () => {
      const a = await demo.connect({ subscribe: 'market_data' });
      const b = await demo.connect({ subscribe: 'market_data' });
      const notSubscribed = await demo.connect();
      for (const client of [a, b]) await client.waitFor((f) => f.event === 'subscribed');
      const marks = [a, b, notSubscribed].map((c) => c.frames.length);
      const payload = {
        symbol: 'ÄCME ✓',
        bid: 1.25,
        levels: [
          [1, 2],
          [3, 4],
        ],
        meta: { open: true, note: null },
      };

      const offset = await realtime.publish('market_data', 'quote', payload);
      expect(typeof offset).toBe('string');
      expect(offset.length).toBeGreaterThan(0);

      for (const [i, client] of [a, b].entries()) {
        const end = await barrier(client);
        expect(client.frames.slice(marks[i], end)).toEqual([
          {
            event: 'message',
            data: { topic: 'market_data', type: 'quote', payload, offset, ts: expect.any(Number) },
          },
        ]);
      }
      await expectNothingSince(notSubscribed, marks[2]);
    });

    it('keeps messages published with nobody subscribed, for recovery', async () => {
      const first = await realtime.publish('system_alerts', 'alert', { n: 1 });
      const second = await realtime.publish('system_alerts', 'alert', { n: 2 });
      const client = await demo.connect();
      const reply = await client.request('subscribe', {
        topics: ['system_alerts'],
        since: { system_alerts: first },
      });
      expect(reply.data.topics).toEqual([
        { topic: 'system_alerts', offset: second, recovered: true },
      ]);
      const recovered = await client.waitFor((f) => f.event === 'message');
      expect(recovered.data).toMatchObject({ offset: second, payload: { n: 2 } });
    });

    it('rejects an invalid topic or type instead of publishing it', async () => {
      await expect(realtime.publish('Not A Topic', 'x', {})).rejects.toMatchObject({
        code: 'INVALID_TOPIC',
      });
      await expect(realtime.publish('chat:a b', 'x', {})).rejects.toMatchObject({
        code: 'INVALID_TOPIC',
      });
      await expect(realtime.publish('market_data', '', {})).rejects.toMatchObject({
        code: 'BAD_REQUEST',
      });
      await expect(realtime.publish('market_data', 't'.repeat(101), {})).rejects.toMatchObject({
        code: 'BAD_REQUEST',
      });
    });
  });

  describe('sendToUser', () => {
    it('reaches every connection of the user, subscribed or not, and nobody else', async () => {
      const token = await demo.token('uma');
      const mine = [
        await demo.connect({ token }),
        await demo.connect({ token, subscribe: 'market_data' }),
        await demo.connect({}, { headers: { authorization: `Bearer ${token}` } }),
      ];
      const others = [
        await demo.connect(),
        await demo.connect({ token: await demo.token('umberto') }),
      ];
      const all = [...mine, ...others];
      const marks = all.map((c) => c.frames.length);

      await realtime.sendToUser('uma', 'notice', { text: 'your export is ready' });

      for (const client of mine) {
        const frame = await client.waitFor((f) => f.event === 'message', {
          from: marks[all.indexOf(client)],
        });
        expect(frame).toEqual({
          event: 'message',
          data: {
            topic: '$user',
            type: 'notice',
            payload: { text: 'your export is ready' },
            ts: expect.any(Number),
          },
        });
        expect(Object.keys(frame.data)).not.toContain('offset');
      }
      for (const client of others) await expectNothingSince(client, marks[all.indexOf(client)]);
    });

    it('reaches a connection that signed in with auth after connecting anonymously', async () => {
      const client = await demo.connect();
      await client.request('auth', { token: await demo.token('late-signer') });
      const from = client.frames.length;
      await realtime.sendToUser('late-signer', 'hello', { n: 1 });
      const frame = await client.waitFor((f) => f.event === 'message', { from });
      expect(frame.data).toMatchObject({ topic: '$user', type: 'hello', payload: { n: 1 } });
    });

    it("serves a user whose id is an identity provider's subject: live, retained, presence", async () => {
      const userId = 'auth0|5f7c8ec7c33c6c004bbafe82';
      const token = await demo.token(userId);
      const id = await realtime.sendToUser(userId, 'while-away', { n: 1 }, { ttlSeconds: 60 });
      const client = await demo.connect({ token });
      const welcome = await client.waitFor((f) => f.event === 'connected');
      expect(welcome.data).toMatchObject({ userId });
      const retained = await client.waitFor((f) => f.event === 'message');
      expect(retained.data).toMatchObject({ topic: '$user', type: 'while-away', id });
      expect((await client.request('ack', { ids: [id] })).data).toMatchObject({ ids: [id] });
      const from = client.frames.length;
      await realtime.sendToUser(userId, 'live', { n: 2 });
      const live = await client.waitFor((f) => f.event === 'message', { from });
      expect(live.data).toMatchObject({ topic: '$user', type: 'live', payload: { n: 2 } });
      const presence = await demo.http(
        'GET',
        `/users/${encodeURIComponent(userId)}/presence`,
        undefined,
        token,
      );
      expect(presence.body).toMatchObject({ userId, online: true });
      expect(
        (await client.request('subscribe', { topics: [`user:${userId}`] })).data,
      ).toMatchObject({ code: 'INVALID_TOPIC' });
    });

    it('refuses a user id no token could carry, retained or not (issue 18, item 7)', async () => {
      const before = await realtime.offlineStats();
      for (const userId of ['eve\n[Nest] forged', 'x'.repeat(129), '', 'a b', 'a"b', 'ünï']) {
        await expect(realtime.sendToUser(userId, 'notice', {})).rejects.toMatchObject({
          code: 'BAD_REQUEST',
        });
        await expect(
          realtime.sendToUser(userId, 'notice', {}, { ttlSeconds: 60 }),
        ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      }
      expect(await realtime.offlineStats()).toEqual(before);
    });

    it('refuses a payload JSON cannot carry, whether the user is here or not, retained or not', async () => {
      const payload = { big: 1n };
      await expect(realtime.sendToUser('nobody-here', 't', payload)).rejects.toMatchObject({
        code: 'BAD_REQUEST',
      });
      await expect(
        realtime.sendToUser('nobody-here', 't', payload, { ttlSeconds: 60 }),
      ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    });

    it('resolves quietly for a user with no connection', async () => {
      await expect(realtime.sendToUser('nobody-here', 'notice', {})).resolves.toBeUndefined();
    });
  });

  describe('broadcast', () => {
    it('reaches every connection as $broadcast, without offset', async () => {
      const clients = [
        await demo.connect(),
        await demo.connect({ token: await demo.token('bea') }),
      ];
      const marks = clients.map((c) => c.frames.length);
      await realtime.broadcast('system.notice', { text: 'deploy done' });
      for (const [i, client] of clients.entries()) {
        const frame = await client.waitFor((f) => f.event === 'message', { from: marks[i] });
        expect(frame).toEqual({
          event: 'message',
          data: {
            topic: '$broadcast',
            type: 'system.notice',
            payload: { text: 'deploy done' },
            ts: expect.any(Number),
          },
        });
      }
    });

    it('is not kept in history: nothing to recover afterwards', async () => {
      const client = await demo.connect();
      await realtime.broadcast('system.notice', { text: 'gone' });
      await client.waitFor((f) => f.event === 'message');
      const reply = await client.request('subscribe', { topics: ['$broadcast'] });
      expect(reply.data).toMatchObject({ code: 'INVALID_TOPIC', topic: '$broadcast' });
    });
  });

  describe('disconnectUser', () => {
    it('closes every connection of the user with 4003 and leaves the others open', async () => {
      const token = await demo.token('vic');
      const victims = [
        await demo.connect({ token }),
        await demo.connect({ token, subscribe: 'orders' }),
      ];
      const bystanders: TestClient[] = [
        await demo.connect(),
        await demo.connect({ token: await demo.token('wes') }),
      ];
      const before = realtime.stats().connections;

      await realtime.disconnectUser('vic');

      for (const victim of victims) {
        expect((await within(victim.closed, 3_000)).code).toBe(4003);
      }
      for (const bystander of bystanders) {
        expect(bystander.isOpen).toBe(true);
        expect((await bystander.request('ping')).event).toBe('pong');
      }
      const after = await eventually(
        () => realtime.stats().connections,
        (n) => n === before - 2,
      );
      expect(after).toBe(before - 2);
    });

    it('refuses a code the protocol does not close with, and the user stays served', async () => {
      const client = await demo.connect({ token: await demo.token('xia') });
      for (const code of [1005, 999, 4777]) {
        await expect(realtime.disconnectUser('xia', code as CloseCode)).rejects.toMatchObject({
          code: 'BAD_REQUEST',
        });
      }
      expect(client.isOpen).toBe(true);
      expect((await client.request('subscribe', { topics: ['orders'] })).event).toBe('subscribed');
    });
  });

  describe('stats', () => {
    it('counts connections, users, topics and subscriptions, and goes back down on close', async () => {
      const base = realtime.stats();
      expect(base).toEqual({
        connections: expect.any(Number),
        users: expect.any(Number),
        topics: expect.any(Number),
        subscriptions: expect.any(Number),
        counters: expect.any(Object),
        instanceId: expect.any(String),
        engine: expect.objectContaining({ engine: 'memory' }),
      });

      const token = await demo.token('stat-user');
      const a = await demo.connect({ token });
      const b = await demo.connect({ token });
      const c = await demo.connect();
      await a.request('subscribe', { topics: ['chat:stats-1', 'chat:stats-2'] });
      await b.request('subscribe', { topics: ['chat:stats-1'] });
      await c.request('subscribe', { topics: ['bench'] });

      const during: RealtimeStats = realtime.stats();
      expect(during.connections).toBe(base.connections + 3);
      expect(during.users).toBe(base.users + 1);
      expect(during.subscriptions).toBe(base.subscriptions + 4);
      expect(during.topics).toBe(base.topics + 3);

      const published = during.counters.published as number;
      await realtime.publish('chat:stats-1', 'x', {});
      expect(realtime.stats().counters.published).toBe(published + 1);

      await Promise.all([a.close(), b.close(), c.close()]);
      const after = await eventually(
        () => realtime.stats(),
        (s) => s.connections === base.connections,
      );
      expect(after).toMatchObject({
        connections: base.connections,
        users: base.users,
        subscriptions: base.subscriptions,
        topics: base.topics,
      });
    });

    it('is what GET /ws/stats serves', async () => {
      const admin = await demo.token('root', ['admin']);
      const http = (await demo.http('GET', '/ws/stats', undefined, admin)).body as RealtimeStats;
      const local = realtime.stats();
      expect(http.connections).toBe(local.connections);
      expect(http.subscriptions).toBe(local.subscriptions);
      expect(http.topics).toBe(local.topics);
    });
  });
});
