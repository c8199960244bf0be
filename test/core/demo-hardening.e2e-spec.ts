import { createHash } from 'node:crypto';
import { DemoApp } from '../support/demo-app';

/** Issue 18, items 3, 4, 7, 8 and 9: the demo app is what users copy. */
describe('demo hardening (issue 18)', () => {
  describe('orders, tokens, notifications', () => {
    let demo: DemoApp;
    let admin: string;

    beforeAll(async () => {
      demo = await DemoApp.start();
      admin = await demo.token('root', ['admin']);
    });
    afterAll(() => demo.stop());

    /** A request with a body sent as is (JSON.stringify cannot write an own `__proto__` key). */
    async function raw(method: string, path: string, body: string, token?: string) {
      const response = await fetch(demo.baseUrl + path, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body,
      });
      return { status: response.status, text: await response.text() };
    }

    it('item 3: an Idempotency-Key names one random order id, never one derived from the key', async () => {
      const token = await demo.token('ida');
      const body = { items: [{ sku: 'A-1', qty: 1 }] };
      const key = { 'idempotency-key': 'cart-1' };
      const post = (t: string) => demo.http('POST', '/orders', body, t);
      const first = await requestWithKey(demo, token, body, key);
      const again = await requestWithKey(demo, token, body, key);
      expect(again.body.id).toBe(first.body.id);
      expect(first.body.id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      const derived = createHash('sha256').update('ida\ncart-1').digest('hex').slice(0, 32);
      expect(first.body.id).not.toBe(derived);
      const other = await requestWithKey(demo, await demo.token('otto'), body, key);
      expect(other.body.id).not.toBe(first.body.id);
      expect(((await post(token)).body as { id: string }).id).not.toBe(first.body.id);
    });

    it('item 4: at most 100 orders per user (409, nothing stored), others unaffected', async () => {
      const token = await demo.token('hoarder');
      const body = { items: [{ sku: 'A-1', qty: 1 }] };
      for (let i = 0; i < 100; i++) {
        expect((await demo.http('POST', '/orders', body, token)).status).toBe(201);
      }
      const refused = await demo.http('POST', '/orders', body, token);
      expect(refused.status).toBe(409);
      expect((await demo.http('POST', '/orders', body, await demo.token('modest'))).status).toBe(
        201,
      );
    });

    it('item 7: /admin/notify takes only user ids a token could carry', async () => {
      const before = (await demo.http('GET', '/ws/stats', undefined, admin)).body as {
        offline: { pending: number };
      };
      for (const userId of [
        'mallory\n[Nest] 1 - 01/01/2030, 00:00:00 LOG [Admin] forged',
        'x'.repeat(129),
        'a b',
        'a"b',
        '',
      ]) {
        const reply = await demo.http('POST', '/admin/notify', { userId, message: 'hi' }, admin);
        expect(reply.status).toBe(400);
        expect(reply.text).not.toContain('[Nest]');
      }
      const after = (await demo.http('GET', '/ws/stats', undefined, admin)).body as {
        offline: { pending: number };
      };
      expect(after.offline.pending).toBe(before.offline.pending);
      const ok = await demo.http(
        'POST',
        '/admin/notify',
        { userId: 'a.b@c=d-e_f', message: 'hi' },
        admin,
      );
      expect(ok.status).toBe(202);
      const revoke = await demo.http('POST', '/admin/revoke', { userId: 'a\nb' }, admin);
      expect(revoke.status).toBe(400);
    });

    it('item 8: a refused handshake answers text/plain naming the code, never the input', async () => {
      const topic = '<img src=x onerror=alert(1)>';
      const refused = await demo.tryConnect({ subscribe: topic });
      expect(refused).toMatchObject({ kind: 'refused', status: 403 });
      if (refused.kind !== 'refused') throw new Error('not refused');
      expect(refused.headers?.['content-type']).toBe('text/plain; charset=utf-8');
      expect(refused.headers?.['x-content-type-options']).toBe('nosniff');
      expect(refused.body).toBe('subscribe refused: INVALID_TOPIC');
      const unauthorized = await demo.tryConnect({ subscribe: 'orders' });
      expect(unauthorized).toMatchObject({ kind: 'refused', status: 403 });
      if (unauthorized.kind === 'refused') {
        expect(unauthorized.body).toBe('subscribe refused: UNAUTHORIZED');
        expect(unauthorized.headers?.['content-type']).toBe('text/plain; charset=utf-8');
      }
      const badToken = await demo.tryConnect({ token: 'nope' });
      expect(badToken).toMatchObject({ kind: 'refused', status: 401 });
      if (badToken.kind === 'refused') {
        expect(badToken.headers?.['content-type']).toBe('text/plain; charset=utf-8');
      }
    });

    it('item 9: __proto__ and constructor keys are unknown fields (400) like any other', async () => {
      const user = await demo.token('proto');
      for (const [path, body, token] of [
        ['/auth/token', '{"userId":"u","__proto__":{"roles":["admin"]}}', undefined],
        ['/auth/token', '{"userId":"u","constructor":{"prototype":{"x":1}}}', undefined],
        ['/orders', '{"items":[{"sku":"A","qty":1,"__proto__":{"x":1}}]}', user],
        ['/orders', '{"items":[{"sku":"A","qty":1}],"toString":"x"}', user],
        ['/orders', '{"items":[{"sku":"A","qty":1}],"prototype":{}}', user],
      ] as const) {
        const reply = await raw('POST', path, body, token);
        expect(reply.status).toBe(400);
      }
      expect(({} as Record<string, unknown>).x).toBeUndefined();
    });

    it('item 9: /auth/token answers Cache-Control: no-store', async () => {
      const response = await fetch(`${demo.baseUrl}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'cache' }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
    });

    it("item 9: another user's order is 404, exactly as a missing one", async () => {
      const owner = await demo.token('owner');
      const created = await demo.http('POST', '/orders', { items: [{ sku: 'A', qty: 1 }] }, owner);
      const order = { body: created.body as { id: string } };
      const stranger = await demo.token('stranger');
      const theirs = await demo.http('GET', `/orders/${order.body.id}`, undefined, stranger);
      const missing = await demo.http(
        'GET',
        '/orders/00000000-0000-4000-8000-000000000000',
        undefined,
        stranger,
      );
      expect(theirs.status).toBe(404);
      expect(theirs.text).toBe(missing.text);
      expect((await demo.http('GET', `/orders/${order.body.id}`, undefined, owner)).status).toBe(
        200,
      );
      expect((await demo.http('GET', `/orders/${order.body.id}`, undefined, admin)).status).toBe(
        200,
      );
    });
  });

  describe('item 4: routes are rate-limited with @nestjs/throttler', () => {
    const RATE = 5;
    let demo: DemoApp;

    beforeAll(async () => {
      demo = await DemoApp.start({ HTTP_RATE_PER_MIN: String(RATE) });
    });
    afterAll(() => demo.stop());

    it(`POST /orders: ${RATE} per minute per user, then 429 with Retry-After; other users go on`, async () => {
      const [ann, bob] = [await demo.token('ann'), await demo.token('bob')];
      const body = { items: [{ sku: 'A', qty: 1 }] };
      for (let i = 0; i < RATE; i++) {
        expect((await demo.http('POST', '/orders', body, ann)).status).toBe(201);
      }
      const response = await fetch(`${demo.baseUrl}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ann}` },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(429);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await demo.http('POST', '/orders', body, bob)).status).toBe(201);
    });

    it(`POST /auth/token: ${RATE} per minute per address`, async () => {
      // Two tokens were issued above; the rest of the address's allowance, then 429.
      const statuses: number[] = [];
      for (let i = 0; i < RATE; i++) {
        statuses.push((await demo.http('POST', '/auth/token', { userId: `t${i}` })).status);
      }
      expect(statuses.slice(0, RATE - 2)).toEqual(Array(RATE - 2).fill(200));
      expect(statuses.slice(RATE - 2)).toEqual([429, 429]);
    });
  });
});

async function requestWithKey(
  demo: DemoApp,
  token: string,
  body: unknown,
  headers: Record<string, string>,
) {
  const response = await fetch(`${demo.baseUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
  return { body: (await response.json()) as { id: string } };
}
