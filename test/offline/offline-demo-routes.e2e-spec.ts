import { DemoApp } from '../support/demo-app';
import { barrier } from '../support/frame-helpers';

/** PROTOCOL §7 in memory mode: POST /admin/notify, /ws/stats offline, Idempotency-Key on POST /orders. */
describe('offline demo routes (memory engine)', () => {
  let demo: DemoApp;
  let admin: string;

  beforeAll(async () => {
    demo = await DemoApp.start();
    admin = await demo.token('ops', ['admin']);
  });

  afterAll(() => demo.stop());

  const post = (path: string, body: unknown, token: string, headers: Record<string, string> = {}) =>
    fetch(demo.baseUrl + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body: JSON.stringify(body),
    }).then(async (response) => ({
      status: response.status,
      body: (await response.json()) as any,
    }));

  it('POST /admin/notify answers 202 {id}; the user gets it on connect; /ws/stats counts it', async () => {
    const stats = async () =>
      ((await demo.http('GET', '/ws/stats', undefined, admin)).body as any).offline;
    const before = await stats();
    expect(before).toEqual({
      pending: expect.any(Number),
      delivered: expect.any(Number),
      deadLettered: expect.any(Number),
    });
    const reply = await post('/admin/notify', { userId: 'erin', message: 'hello' }, admin);
    expect(reply).toEqual({ status: 202, body: { id: expect.any(String) } });
    expect((await stats()).pending).toBe(before.pending + 1);
    const client = await demo.connect({ token: await demo.token('erin') });
    const frame = await client.waitFor((f) => f.event === 'message');
    expect(frame.data).toMatchObject({
      topic: '$user',
      type: 'notification',
      payload: { message: 'hello' },
      id: reply.body.id,
    });
    expect(frame.data.ts).toBeGreaterThan(Date.now() - 60_000);
    await client.request('ack', { ids: [reply.body.id] });
    expect(await stats()).toEqual({ ...before, delivered: before.delivered + 1 });
  });

  it('refuses bad bodies (400), non-admins (403) and missing tokens (401), storing nothing', async () => {
    const user = await demo.token('frank');
    const before = ((await demo.http('GET', '/ws/stats', undefined, admin)).body as any).offline;
    for (const body of [
      { userId: 'x' },
      { userId: '', message: 'm' },
      { userId: 'x', message: 'm', ttlSeconds: 0 },
      { userId: 'x', message: 'm', ttlSeconds: 'soon' },
      { userId: 'x', message: 'm', extra: 1 },
    ]) {
      expect((await post('/admin/notify', body, admin)).status).toBe(400);
    }
    expect((await post('/admin/notify', { userId: 'x', message: 'm' }, user)).status).toBe(403);
    const anonymous = await fetch(demo.baseUrl + '/admin/notify', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"userId":"x","message":"m"}',
    });
    expect(anonymous.status).toBe(401);
    expect(((await demo.http('GET', '/ws/stats', undefined, admin)).body as any).offline).toEqual(
      before,
    );
  });

  it('POST /orders with Idempotency-Key returns the same order and publishes once; per user', async () => {
    const grace = await demo.token('grace');
    const heidi = await demo.token('heidi');
    const watcher = await demo.connect({ token: grace, subscribe: 'user:grace' });
    await watcher.waitFor((f) => f.event === 'subscribed');
    const body = { items: [{ sku: 'sku-9', qty: 1 }] };
    const key = { 'idempotency-key': 'cart-1' };
    const replies = await Promise.all([
      post('/orders', body, grace, key),
      post('/orders', body, grace, key),
    ]);
    const again = await post('/orders', body, grace, key);
    for (const reply of [...replies, again]) expect(reply.status).toBe(201);
    expect(new Set([...replies, again].map((reply) => reply.body.id)).size).toBe(1);
    const theirs = await post('/orders', body, heidi, key);
    expect(theirs.body.id).not.toBe(again.body.id);
    await barrier(watcher);
    expect(watcher.messages('user:grace').filter((m) => m.type === 'order.created')).toHaveLength(
      1,
    );
    expect(
      (await post('/orders', body, grace, { 'idempotency-key': 'k'.repeat(201) })).status,
    ).toBe(400);
  });
});
