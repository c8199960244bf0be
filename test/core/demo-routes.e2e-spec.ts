import { DEV_JWT_SECRET } from '@nest-realtime/server';
import { JwtService } from '@nestjs/jwt';
import { demoConfigFromEnv } from '../../src/config/realtime-env';
import { DemoApp, TEST_JWT_SECRET } from '../support/demo-app';
import { barrier, expectNothingSince } from '../support/frame-helpers';
import type { TestClient } from '../support/ws-client';

interface Order {
  id: string;
  ownerId: string;
  items: Array<{ sku: string; qty: number }>;
  status: string;
  createdAt: string;
  updatedAt: string;
}

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** PROTOCOL §7: the demo's HTTP routes and the live events they publish. */
describe('core: demo routes', () => {
  let demo: DemoApp;
  let adminToken: string;
  let userToken: string;

  beforeAll(async () => {
    demo = await DemoApp.start();
    adminToken = await demo.token('root', ['admin']);
    userToken = await demo.token('olivia', ['customer']);
  });

  afterAll(() => demo.stop());

  const claimsOf = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

  /** A message frame of PROTOCOL §3 with exactly these fields. */
  const message = (topic: string, type: string, payload: unknown) => ({
    event: 'message',
    data: { topic, type, payload, offset: expect.any(String), ts: expect.any(Number) },
  });

  describe('POST /auth/token', () => {
    it('issues a token the WebSocket accepts, with sub, roles and exp', async () => {
      const response = await demo.http('POST', '/auth/token', {
        userId: 'tok-user',
        roles: ['admin', 'x'],
        ttlSeconds: 120,
      });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
      const { token } = response.body as { token: string };
      const claims = claimsOf(token);
      expect(claims).toMatchObject({ sub: 'tok-user', roles: ['admin', 'x'] });
      expect((claims.exp as number) - (claims.iat as number)).toBe(120);
      const client = await demo.connect({ token });
      expect(client.frames[0].data).toMatchObject({
        userId: 'tok-user',
        expiresAt: (claims.exp as number) * 1000,
      });
    });

    it.each([
      ['without userId', {}],
      ['with a userId that no token could carry', { userId: 'a b' }],
      ['with roles that are not strings', { userId: 'u', roles: [1] }],
      ['with a ttl out of range', { userId: 'u', ttlSeconds: 0 }],
      ['with an unknown field', { userId: 'u', admin: true }],
    ])('answers 400 %s', async (_case, body) => {
      expect((await demo.http('POST', '/auth/token', body)).status).toBe(400);
    });
  });

  describe('orders', () => {
    let ownerFeed: TestClient;
    let ordersFeed: TestClient;
    let strangerFeed: TestClient;

    beforeAll(async () => {
      ownerFeed = await demo.connect({ token: userToken, subscribe: 'user:olivia' });
      ordersFeed = await demo.connect({ token: adminToken, subscribe: 'orders' });
      strangerFeed = await demo.connect({
        token: await demo.token('stranger'),
        subscribe: 'user:stranger',
      });
      for (const client of [ownerFeed, ordersFeed, strangerFeed])
        await client.waitFor((f) => f.event === 'subscribed');
    });

    it('POST /orders answers 201 with the order and publishes order.created on orders and user:<owner>', async () => {
      const marks = [ownerFeed, ordersFeed, strangerFeed].map((c) => c.frames.length);
      const response = await demo.http(
        'POST',
        '/orders',
        {
          items: [
            { sku: 'SKU-1', qty: 2 },
            { sku: 'b.2', qty: 1 },
          ],
        },
        userToken,
      );
      expect(response.status).toBe(201);
      const order = response.body as Order;
      expect(order).toEqual({
        id: expect.any(String),
        ownerId: 'olivia',
        items: [
          { sku: 'SKU-1', qty: 2 },
          { sku: 'b.2', qty: 1 },
        ],
        status: 'pending',
        createdAt: expect.stringMatching(ISO_DATE),
        updatedAt: expect.stringMatching(ISO_DATE),
      });

      const onUser = await ownerFeed.waitFor((f) => f.event === 'message', { from: marks[0] });
      expect(onUser).toEqual(message('user:olivia', 'order.created', order));
      const onOrders = await ordersFeed.waitFor((f) => f.event === 'message', { from: marks[1] });
      expect(onOrders).toEqual(message('orders', 'order.created', order));
      await expectNothingSince(strangerFeed, marks[2]);
    });

    it('POST /orders answers 401 without a token and 400 for a bad body, publishing nothing', async () => {
      const mark = ordersFeed.frames.length;
      expect((await demo.http('POST', '/orders', { items: [{ sku: 'A', qty: 1 }] })).status).toBe(
        401,
      );
      expect(
        (await demo.http('POST', '/orders', { items: [{ sku: 'A', qty: 1 }] }, 'not-a-token'))
          .status,
      ).toBe(401);
      for (const body of [
        {},
        { items: [] },
        { items: [{ sku: 'A', qty: 0 }] },
        { items: [{ sku: 'a b', qty: 1 }] },
      ]) {
        expect((await demo.http('POST', '/orders', body, userToken)).status).toBe(400);
      }
      await expectNothingSince(ordersFeed, mark);
    });

    it('PATCH /orders/:id (admin) publishes order.updated on orders and user:<owner>', async () => {
      const created = (
        await demo.http('POST', '/orders', { items: [{ sku: 'C', qty: 3 }] }, userToken)
      ).body as Order;
      for (const feed of [ownerFeed, ordersFeed]) {
        await feed.waitFor((f) => f.event === 'message' && f.data.payload.id === created.id);
      }
      const marks = [ownerFeed.frames.length, ordersFeed.frames.length];

      const response = await demo.http(
        'PATCH',
        `/orders/${created.id}`,
        { status: 'shipped' },
        adminToken,
      );
      expect(response.status).toBe(200);
      const updated = response.body as Order;
      expect(updated).toEqual({
        ...created,
        status: 'shipped',
        updatedAt: expect.stringMatching(ISO_DATE),
      });

      const onUser = await ownerFeed.waitFor((f) => f.event === 'message', { from: marks[0] });
      expect(onUser).toEqual(message('user:olivia', 'order.updated', updated));
      const onOrders = await ordersFeed.waitFor((f) => f.event === 'message', { from: marks[1] });
      expect(onOrders).toEqual(message('orders', 'order.updated', updated));
    });

    it("takes orders of a user whose id is no topic key (an identity provider's subject) on orders only", async () => {
      const token = await demo.token('auth0|5f7c8ec7c33c6c004bbafe82');
      const mark = ordersFeed.frames.length;
      const created = await demo.http('POST', '/orders', { items: [{ sku: 'E', qty: 1 }] }, token);
      expect(created.status).toBe(201);
      const order = created.body as Order;
      expect(order.ownerId).toBe('auth0|5f7c8ec7c33c6c004bbafe82');
      const onOrders = await ordersFeed.waitFor((f) => f.event === 'message', { from: mark });
      expect(onOrders).toEqual(message('orders', 'order.created', order));
      const updated = await demo.http(
        'PATCH',
        `/orders/${order.id}`,
        { status: 'paid' },
        adminToken,
      );
      expect(updated.status).toBe(200);
      await ordersFeed.waitFor(
        (f) =>
          f.event === 'message' &&
          f.data.type === 'order.updated' &&
          f.data.payload.id === order.id,
        { from: mark },
      );
    });

    it.each(['pending', 'paid', 'shipped', 'delivered', 'cancelled'])(
      'PATCH accepts the status %s',
      async (status) => {
        const created = (
          await demo.http('POST', '/orders', { items: [{ sku: 'D', qty: 1 }] }, userToken)
        ).body as Order;
        const response = await demo.http('PATCH', `/orders/${created.id}`, { status }, adminToken);
        expect(response.status).toBe(200);
        expect((response.body as Order).status).toBe(status);
      },
    );

    it('PATCH answers 400 for an unknown status and 404 for an unknown order', async () => {
      const created = (
        await demo.http('POST', '/orders', { items: [{ sku: 'E', qty: 1 }] }, userToken)
      ).body as Order;
      expect(
        (await demo.http('PATCH', `/orders/${created.id}`, { status: 'lost' }, adminToken)).status,
      ).toBe(400);
      expect(
        (await demo.http('PATCH', '/orders/no-such-order', { status: 'paid' }, adminToken)).status,
      ).toBe(404);
    });
  });

  describe('PUT /inventory/:sku (admin)', () => {
    it('answers {sku, stock} and publishes inventory.updated on inventory and inventory:<sku> only', async () => {
      const all = await demo.connect({ token: userToken, subscribe: 'inventory' });
      const one = await demo.connect({ token: userToken, subscribe: 'inventory:WIDGET-9' });
      const other = await demo.connect({ token: userToken, subscribe: 'inventory:GADGET-1' });
      for (const client of [all, one, other]) await client.waitFor((f) => f.event === 'subscribed');
      const marks = [all, one, other].map((c) => c.frames.length);

      const response = await demo.http('PUT', '/inventory/WIDGET-9', { stock: 17 }, adminToken);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ sku: 'WIDGET-9', stock: 17 });

      expect(await all.waitFor((f) => f.event === 'message', { from: marks[0] })).toEqual(
        message('inventory', 'inventory.updated', { sku: 'WIDGET-9', stock: 17 }),
      );
      expect(await one.waitFor((f) => f.event === 'message', { from: marks[1] })).toEqual(
        message('inventory:WIDGET-9', 'inventory.updated', { sku: 'WIDGET-9', stock: 17 }),
      );
      await expectNothingSince(other, marks[2]);
    });

    it('answers 400 for a negative or missing stock', async () => {
      expect((await demo.http('PUT', '/inventory/A1', { stock: -1 }, adminToken)).status).toBe(400);
      expect((await demo.http('PUT', '/inventory/A1', {}, adminToken)).status).toBe(400);
    });
  });

  describe('POST /admin/broadcast (admin)', () => {
    it('reaches every connection, anonymous and unsubscribed too, as $broadcast without offset', async () => {
      const anonymous = await demo.connect();
      const subscribed = await demo.connect({ subscribe: 'market_data' });
      const user = await demo.connect({ token: await demo.token('bystander') });
      await subscribed.waitFor((f) => f.event === 'subscribed');
      const clients = [anonymous, subscribed, user];
      const marks = clients.map((c) => c.frames.length);

      const response = await demo.http(
        'POST',
        '/admin/broadcast',
        { message: 'maintenance at 22:00' },
        adminToken,
      );
      expect(response.status).toBe(202);

      for (const [i, client] of clients.entries()) {
        const frame = await client.waitFor((f) => f.event === 'message', { from: marks[i] });
        expect(frame).toEqual({
          event: 'message',
          data: {
            topic: '$broadcast',
            type: 'admin.broadcast',
            payload: { message: 'maintenance at 22:00' },
            ts: expect.any(Number),
          },
        });
        expect(Object.keys(frame.data)).not.toContain('offset');
      }
    });

    it('answers 400 for an empty message', async () => {
      expect(
        (await demo.http('POST', '/admin/broadcast', { message: '' }, adminToken)).status,
      ).toBe(400);
    });
  });

  describe('admin routes refuse non-admins', () => {
    const routes: Array<[string, string, unknown]> = [
      ['PATCH', '/orders/some-id', { status: 'paid' }],
      ['PUT', '/inventory/A1', { stock: 1 }],
      ['POST', '/admin/broadcast', { message: 'x' }],
      ['POST', '/admin/revoke', { userId: 'x' }],
      ['GET', '/ws/stats', undefined],
    ];

    it.each(routes)(
      '%s %s: 401 without a token or with a bad one, 403 without the admin role',
      async (method, path, body) => {
        const listener = await demo.connect();
        const mark = listener.frames.length;
        expect((await demo.http(method, path, body)).status).toBe(401);
        expect((await demo.http(method, path, body, 'garbage.token.here')).status).toBe(401);
        const forged = new JwtService({
          secret: 'some-other-secret-of-enough-length-0123456789',
        }).sign({ sub: 'root', roles: ['admin'] }, { expiresIn: 60 });
        expect((await demo.http(method, path, body, forged)).status).toBe(401);
        expect((await demo.http(method, path, body, userToken)).status).toBe(403);
        // Nothing was broadcast by the refused calls.
        await expectNothingSince(listener, mark);
      },
    );
  });

  describe('operations', () => {
    it('GET /ws/stats (admin) reports connections as a number, and topics, subscriptions, counters', async () => {
      const before = (await demo.http('GET', '/ws/stats', undefined, adminToken)).body as Record<
        string,
        unknown
      >;
      expect(before).toMatchObject({
        connections: expect.any(Number),
        topics: expect.any(Number),
        subscriptions: expect.any(Number),
        counters: expect.any(Object),
      });
      const client = await demo.connect({ subscribe: 'market_data,system_alerts' });
      await client.waitFor((f) => f.event === 'subscribed');
      const after = (await demo.http('GET', '/ws/stats', undefined, adminToken)).body as Record<
        string,
        number
      >;
      expect(after.connections).toBe((before.connections as number) + 1);
      expect(after.subscriptions).toBe((before.subscriptions as number) + 2);
      await client.close();
    });

    it('GET /metrics serves Prometheus text to anyone', async () => {
      const client = await demo.connect();
      await barrier(client);
      const response = await fetch(`${demo.baseUrl}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      expect(text).toMatch(/^# HELP realtime_connections /m);
      expect(text).toMatch(/^# TYPE realtime_connections gauge$/m);
      const open = Number(/^realtime_connections (\d+)$/m.exec(text)?.[1]);
      expect(open).toBeGreaterThanOrEqual(1);
      expect(text).toMatch(/^# TYPE realtime_messages_published_total counter$/m);
      for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
        expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEaInNf]+$/);
      }
    });

    it('GET /health answers 200 with the realtime indicator up', async () => {
      const response = await demo.http('GET', '/health');
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ status: 'ok', info: { realtime: { status: 'up' } } });
    });
  });
});

describe('core: the demo in production (NODE_ENV=production)', () => {
  it('refuses to configure itself without JWT_SECRET', () => {
    expect(() => demoConfigFromEnv({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET/);
    expect(() => demoConfigFromEnv({ NODE_ENV: 'production', JWT_SECRET: '' })).toThrow(
      /JWT_SECRET/,
    );
  });

  it('refuses to start with the development secret', async () => {
    await expect(
      DemoApp.start({ NODE_ENV: 'production', JWT_SECRET: DEV_JWT_SECRET }),
    ).rejects.toThrow(/jwt\.secret/);
  });

  it('has no /auth/token route, and otherwise serves with tokens signed by JWT_SECRET', async () => {
    const prod = await DemoApp.start({ NODE_ENV: 'production' });
    try {
      expect((await prod.http('POST', '/auth/token', { userId: 'x' })).status).toBe(404);
      const admin = new JwtService({ secret: TEST_JWT_SECRET }).sign(
        { sub: 'ops', roles: ['admin'] },
        { expiresIn: 60 },
      );
      const client = await prod.connect({ token: admin });
      expect(client.frames[0].data.userId).toBe('ops');
      const stats = await prod.http('GET', '/ws/stats', undefined, admin);
      expect(stats.status).toBe(200);
      expect((stats.body as { connections: number }).connections).toBe(1);
      expect((await prod.http('GET', '/health')).status).toBe(200);
    } finally {
      await prod.stop();
    }
  });
});

describe('core: JWT_PREVIOUS_SECRET (rotating the signing secret)', () => {
  it('accepts tokens of the previous secret on the socket and the routes, and signs with the new one', async () => {
    const previous = 'the-secret-being-rotated-out-0123456789';
    const demo = await DemoApp.start({ JWT_PREVIOUS_SECRET: previous });
    try {
      const old = new JwtService({ secret: previous }).sign({ sub: 'ada' }, { expiresIn: 60 });
      const client = await demo.connect({ token: old });
      expect(client.frames[0].data.userId).toBe('ada');
      const order = { items: [{ sku: 'R', qty: 1 }] };
      expect((await demo.http('POST', '/orders', order, old)).status).toBe(201);
      const issued = await demo.token('bob');
      expect(() => new JwtService({ secret: TEST_JWT_SECRET }).verify(issued)).not.toThrow();
      const stranger = new JwtService({ secret: 'some-other-secret-0123456789-abcdef' }).sign(
        { sub: 'eve' },
        { expiresIn: 60 },
      );
      expect((await demo.http('POST', '/orders', order, stranger)).status).toBe(401);
    } finally {
      await demo.stop();
    }
  });
});

describe('core: METRICS_PUBLIC=false', () => {
  it('keeps /metrics for admins', async () => {
    const demo = await DemoApp.start({ METRICS_PUBLIC: 'false' });
    try {
      expect((await demo.http('GET', '/metrics')).status).toBe(401);
      const user = await demo.token('someone');
      expect((await demo.http('GET', '/metrics', undefined, user)).status).toBe(403);
      const admin = await demo.token('ops', ['admin']);
      const metrics = await demo.http('GET', '/metrics', undefined, admin);
      expect(metrics.status).toBe(200);
      expect(metrics.text).toMatch(/^realtime_connections \d+$/m);
    } finally {
      await demo.stop();
    }
  });
});
