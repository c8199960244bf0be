import { BroadcastService } from '@nest-realtime/server';
import { DemoApp } from '../support/demo-app';
import { barrier, errorFrame } from '../support/frame-helpers';

/** PROTOCOL §1-§2: the handshake's first frames and every client event's success reply. */
describe('core: client events and their replies', () => {
  let demo: DemoApp;
  let realtime: BroadcastService;
  let adminToken: string;

  beforeAll(async () => {
    demo = await DemoApp.start();
    realtime = demo.app.get(BroadcastService);
    adminToken = await demo.token('root', ['admin']);
  });

  afterAll(() => demo.stop());

  const expOf = (token: string): number =>
    (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number }).exp;

  const openConnections = async (): Promise<number> =>
    ((await demo.http('GET', '/ws/stats', undefined, adminToken)).body as { connections: number })
      .connections;

  describe('connected', () => {
    it('greets an anonymous client with a fresh connectionId, userId null and expiresAt null', async () => {
      const a = await demo.connect();
      const b = await demo.connect();
      for (const client of [a, b]) {
        expect(client.frames).toEqual([
          {
            event: 'connected',
            data: {
              connectionId: expect.any(String),
              userId: null,
              heartbeatMs: 30_000,
              expiresAt: null,
            },
          },
        ]);
      }
      expect(a.frames[0].data.connectionId).not.toBe(b.frames[0].data.connectionId);
    });

    it('greets a signed-in client with its sub and the token expiry in milliseconds', async () => {
      const token = await demo.token('alice');
      const client = await demo.connect({ token });
      expect(client.frames[0]).toEqual({
        event: 'connected',
        data: {
          connectionId: expect.any(String),
          userId: 'alice',
          heartbeatMs: 30_000,
          expiresAt: expOf(token) * 1000,
        },
      });
    });

    it('accepts the token from an Authorization: Bearer header', async () => {
      const token = await demo.token('header-user');
      const client = await demo.connect({}, { headers: { authorization: `Bearer ${token}` } });
      expect(client.frames[0].data.userId).toBe('header-user');
    });
  });

  describe('subscribe', () => {
    it('answers subscribed with the ref and each topic with its head offset, in request order', async () => {
      const head = await realtime.publish('system_alerts', 'alert.raised', { level: 'low' });
      const client = await demo.connect();
      const reply = await client.request('subscribe', { topics: ['system_alerts', 'market_data'] });
      expect(reply).toEqual({
        event: 'subscribed',
        data: {
          ref: expect.any(String),
          topics: [
            { topic: 'system_alerts', offset: head },
            { topic: 'market_data', offset: expect.any(String) },
          ],
        },
      });
      expect(reply.data.ref).toMatch(/^r\d+$/);
    });

    it('then delivers each message published to the topic as a message frame', async () => {
      const client = await demo.connect();
      await client.request('subscribe', { topics: ['market_data'] });
      const from = client.frames.length;
      const offset = await realtime.publish('market_data', 'tick', { symbol: 'ACME', price: 12.5 });
      const message = await client.waitFor((f) => f.event === 'message', { from });
      expect(message).toEqual({
        event: 'message',
        data: {
          topic: 'market_data',
          type: 'tick',
          payload: { symbol: 'ACME', price: 12.5 },
          offset,
          ts: expect.any(Number),
        },
      });
      expect(Math.abs(message.data.ts - Date.now())).toBeLessThan(5_000);
    });

    it('omits ref from the reply when the request had none', async () => {
      const client = await demo.connect();
      const from = client.frames.length;
      client.send('subscribe', { topics: ['market_data'] });
      const reply = await client.waitFor((f) => f.event === 'subscribed', { from });
      expect(reply.data).toEqual({
        topics: [{ topic: 'market_data', offset: expect.any(String) }],
      });
      expect(Object.keys(reply.data)).not.toContain('ref');
    });

    it('accepts 50 topics in one request, in order', async () => {
      const client = await demo.connect({ token: await demo.token('fifty') });
      const topics = Array.from({ length: 50 }, (_, i) => `chat:fifty-${i}`);
      const reply = await client.request('subscribe', { topics });
      expect(reply.event).toBe('subscribed');
      expect(reply.data.topics.map((t: { topic: string }) => t.topic)).toEqual(topics);
    });

    it('confirms a topic already held without subscribing it twice', async () => {
      const client = await demo.connect();
      await client.request('subscribe', { topics: ['market_data'] });
      const again = await client.request('subscribe', { topics: ['market_data', 'market_data'] });
      expect(again.data.topics).toEqual([{ topic: 'market_data', offset: expect.any(String) }]);
      const from = client.frames.length;
      await realtime.publish('market_data', 'tick', { n: 1 });
      await barrier(client);
      expect(client.frames.slice(from).filter((f) => f.event === 'message')).toHaveLength(1);
    });
  });

  describe('unsubscribe', () => {
    it('answers unsubscribed with the ref and the topics, and stops delivery', async () => {
      const client = await demo.connect();
      await client.request('subscribe', { topics: ['market_data', 'system_alerts'] });
      const reply = await client.request('unsubscribe', { topics: ['market_data'] });
      expect(reply).toEqual({
        event: 'unsubscribed',
        data: { ref: expect.any(String), topics: ['market_data'] },
      });
      const from = client.frames.length;
      await realtime.publish('market_data', 'tick', { after: 'unsubscribe' });
      const kept = await realtime.publish('system_alerts', 'alert.raised', { still: 'here' });
      await barrier(client);
      const frames = client.frames.slice(from);
      expect(frames.filter((f) => f.event === 'message').map((f) => f.data.offset)).toEqual([kept]);
    });

    it('is idempotent: a topic never subscribed, or already dropped, is confirmed all the same', async () => {
      const client = await demo.connect();
      const never = await client.request('unsubscribe', { topics: ['market_data'] });
      expect(never).toEqual({
        event: 'unsubscribed',
        data: { ref: expect.any(String), topics: ['market_data'] },
      });
      await client.request('subscribe', { topics: ['system_alerts'] });
      await client.request('unsubscribe', { topics: ['system_alerts'] });
      const twice = await client.request('unsubscribe', { topics: ['system_alerts'] });
      expect(twice.data.topics).toEqual(['system_alerts']);
      expect(client.isOpen).toBe(true);
    });
  });

  describe('ping', () => {
    it('answers pong with the ref and the server time in milliseconds', async () => {
      const client = await demo.connect();
      const before = Date.now();
      const pong = await client.request('ping');
      const after = Date.now();
      expect(pong).toEqual({
        event: 'pong',
        data: { ref: expect.any(String), ts: expect.any(Number) },
      });
      expect(pong.data.ts).toBeGreaterThanOrEqual(before - 1_000);
      expect(pong.data.ts).toBeLessThanOrEqual(after + 1_000);
    });

    it('answers a ping without ref with a pong without ref', async () => {
      const client = await demo.connect();
      const from = client.frames.length;
      client.send('ping');
      const pong = await client.waitFor((f) => f.event === 'pong', { from });
      expect(pong.data).toEqual({ ts: expect.any(Number) });
    });
  });

  describe('auth', () => {
    it('signs an anonymous connection in: authenticated {ref, userId, expiresAt}, then user topics open', async () => {
      const client = await demo.connect();
      const refused = await client.request('subscribe', { topics: ['user:carol'] });
      expect(refused).toEqual(
        errorFrame('UNAUTHORIZED', { ref: refused.data.ref, topic: 'user:carol' }),
      );

      const token = await demo.token('carol');
      const reply = await client.request('auth', { token });
      expect(reply).toEqual({
        event: 'authenticated',
        data: { ref: expect.any(String), userId: 'carol', expiresAt: expOf(token) * 1000 },
      });
      const subscribed = await client.request('subscribe', { topics: ['user:carol'] });
      expect(subscribed.event).toBe('subscribed');
    });

    it('refreshes a signed-in connection with a later token of the same sub', async () => {
      const first = await demo.token('dave', [], 600);
      const client = await demo.connect({ token: first });
      const later = await demo.token('dave', [], 7_200);
      const reply = await client.request('auth', { token: later });
      expect(reply).toEqual({
        event: 'authenticated',
        data: { ref: expect.any(String), userId: 'dave', expiresAt: expOf(later) * 1000 },
      });
      expect(reply.data.expiresAt).toBeGreaterThan(expOf(first) * 1000);
    });

    it('refuses a token of another user with UNAUTHORIZED and keeps the connection as it was', async () => {
      const client = await demo.connect({ token: await demo.token('erin') });
      const reply = await client.request('auth', { token: await demo.token('mallory') });
      expect(reply).toEqual(errorFrame('UNAUTHORIZED', { ref: reply.data.ref }));
      expect((await client.request('subscribe', { topics: ['user:erin'] })).event).toBe(
        'subscribed',
      );
      const other = await client.request('subscribe', { topics: ['user:mallory'] });
      expect(other).toEqual(
        errorFrame('FORBIDDEN_TOPIC', { ref: other.data.ref, topic: 'user:mallory' }),
      );
    });

    it('refuses a malformed or badly signed token with UNAUTHORIZED', async () => {
      const client = await demo.connect();
      const garbage = await client.request('auth', { token: 'not-a-jwt' });
      expect(garbage).toEqual(errorFrame('UNAUTHORIZED', { ref: garbage.data.ref }));
      const token = await demo.token('frank');
      const tampered = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
      const forged = await client.request('auth', { token: tampered });
      expect(forged).toEqual(errorFrame('UNAUTHORIZED', { ref: forged.data.ref }));
      expect((await client.request('ping')).event).toBe('pong');
    });
  });

  describe('publish', () => {
    it('answers published {ref, offset} and delivers the message with that offset', async () => {
      const listener = await demo.connect({ token: await demo.token('listener') });
      await listener.request('subscribe', { topics: ['chat:lobby'] });
      const author = await demo.connect({ token: await demo.token('author') });
      await author.request('subscribe', { topics: ['chat:lobby'] });
      const from = listener.frames.length;
      const authorFrom = author.frames.length;

      const reply = await author.request('publish', {
        topic: 'chat:lobby',
        type: 'chat.message',
        payload: { text: 'hello', mentions: ['listener'] },
      });
      expect(reply).toEqual({
        event: 'published',
        data: { ref: expect.any(String), offset: expect.any(String) },
      });

      const expected = {
        event: 'message',
        data: {
          topic: 'chat:lobby',
          type: 'chat.message',
          payload: { text: 'hello', mentions: ['listener'] },
          offset: reply.data.offset,
          ts: expect.any(Number),
        },
      };
      expect(await listener.waitFor((f) => f.event === 'message', { from })).toEqual(expected);
      expect(await author.waitFor((f) => f.event === 'message', { from: authorFrom })).toEqual(
        expected,
      );
    });

    it('accepts any JSON value as payload (string, number, boolean, array, object)', async () => {
      const author = await demo.connect({ token: await demo.token('author2') });
      await author.request('subscribe', { topics: ['chat:payloads'] });
      const from = author.frames.length;
      const payloads: unknown[] = ['text', 42, false, [1, 'two'], { nested: { a: 1 } }];
      for (const payload of payloads) {
        const reply = await author.request('publish', {
          topic: 'chat:payloads',
          type: 'p',
          payload,
        });
        expect(reply).toEqual({
          event: 'published',
          data: { ref: expect.any(String), offset: expect.any(String) },
        });
      }
      await barrier(author);
      expect(author.messages('chat:payloads').map((m) => m.payload)).toEqual(payloads);
      expect(author.frames.slice(from).filter((f) => f.event === 'message')).toHaveLength(5);
    });
  });

  describe('?subscribe= at connect', () => {
    it('sends subscribed (no ref) right after connected', async () => {
      const client = await demo.connect({ subscribe: 'market_data,system_alerts' });
      await client.waitFor((f) => f.event === 'subscribed');
      expect(client.frames[0].event).toBe('connected');
      expect(client.frames[1]).toEqual({
        event: 'subscribed',
        data: {
          topics: [
            { topic: 'market_data', offset: expect.any(String) },
            { topic: 'system_alerts', offset: expect.any(String) },
          ],
        },
      });
      const offset = await realtime.publish('market_data', 'tick', { via: 'query' });
      const message = await client.waitFor((f) => f.event === 'message');
      expect(message.data.offset).toBe(offset);
    });

    it('subscribes a signed-in user to its own topics at connect', async () => {
      const token = await demo.token('gina');
      const client = await demo.connect({ token, subscribe: 'orders,user:gina' });
      const subscribed = await client.waitFor((f) => f.event === 'subscribed');
      expect(subscribed.data.topics.map((t: { topic: string }) => t.topic)).toEqual([
        'orders',
        'user:gina',
      ]);
      const order = await demo.http('POST', '/orders', { items: [{ sku: 'A1', qty: 1 }] }, token);
      expect(order.status).toBe(201);
      await client.waitForCount('message', 2);
      expect(
        client
          .messages()
          .map((m) => m.topic)
          .sort(),
      ).toEqual(['orders', 'user:gina']);
    });

    it.each<[string, string | null, string]>([
      ['an authenticated topic, anonymously', null, 'orders'],
      ['a namespace without policy', null, 'market_data,nowhere'],
      ['an invalid topic name', null, 'market_data,Bad!'],
      ['another user’s owner topic', 'hank', 'user:someone-else'],
      ['a role topic without the role', 'hank', 'admin'],
    ])(
      'refuses the handshake with 403 and never upgrades for %s',
      async (_case, user, subscribe) => {
        const before = await openConnections();
        const query: Record<string, string> = { subscribe };
        if (user !== null) query.token = await demo.token(user);
        const result = await demo.tryConnect(query);
        expect(result.kind).toBe('refused');
        if (result.kind === 'refused') expect(result.status).toBe(403);
        expect(await openConnections()).toBe(before);
      },
    );
  });
});
