import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DemoProcess } from '../support/demo-process';
import { TestRedis } from '../support/redis-server';
import { TcpProxy } from '../support/tcp-proxy';
import { closeOf } from '../support/waits';
import type { TestClient } from '../support/ws-client';

jest.setTimeout(30_000);

/**
 * PROTOCOL.md §7: Redis stops and comes back (empty, as after a restart
 * without persistence) under live clients on two instances.
 */
describe('a Redis outage under live clients', () => {
  let redis: TestRedis;
  let b: DemoProcess;
  let c: DemoProcess;

  beforeAll(async () => {
    redis = await TestRedis.start();
    const env = { REDIS_URL: redis.url };
    [b, c] = await DemoProcess.startMany(2, env);
  });
  afterAll(async () => {
    await Promise.all([b?.stop(), c?.stop()]);
    await redis?.stop();
  });

  it('serves local clients, answers 503 and refuses publishes at once; then recovers without a restart', async () => {
    const token = await b.token('writer');
    const admin = await b.token('root', ['admin']);
    const onB = await b.connect({ token });
    const onC = await c.connect({ token });
    const subscribed = await onC.request('subscribe', { topics: ['chat:fault'] });
    await onB.request('subscribe', { topics: ['chat:fault'] });
    const before = await onB.request('publish', { topic: 'chat:fault', type: 'x', payload: 0 });
    expect(before.event).toBe('published');
    await onC.waitForCount('message', 1);
    const closes: number[] = [];
    for (const client of [onB, onC]) void client.closed.then(({ code }) => closes.push(code));

    await redis.stop();
    await b.healthBecomes(503);
    await c.healthBecomes(503);

    const health = await b.http('GET', '/health');
    expect(health.body).toMatchObject({
      status: 'error',
      error: { realtime: { engine: 'redis' } },
    });
    expect((await b.http('GET', '/metrics')).text).toMatch(/^realtime_engine_up 0$/m);

    // Local clients are served: requests that need no Redis are answered.
    for (const client of [onB, onC]) expect((await client.request('ping')).event).toBe('pong');
    const started = Date.now();
    const refused = await onB.request('publish', { topic: 'chat:fault', type: 'x', payload: 1 });
    expect(refused).toMatchObject({
      event: 'error',
      data: { code: 'INTERNAL', message: 'realtime engine unavailable' },
    });
    const order = await b.http('POST', '/orders', { items: [{ sku: 'sku-1', qty: 1 }] }, token);
    expect(order).toMatchObject({
      status: 503,
      body: { message: 'realtime engine unavailable' },
    });
    // At once: both refusals together took less than one command timeout (2 s), which a
    // refusal that waited for Redis would take on its own.
    expect(Date.now() - started).toBeLessThan(2_000);
    // A retained message that cannot be stored is refused the same way (within the command timeout).
    const notify = await b.http('POST', '/admin/notify', { userId: 'away', message: 'm' }, admin);
    expect(notify).toMatchObject({
      status: 503,
      body: { message: 'realtime engine unavailable' },
    });
    const subscribeRefused = await onB.request('subscribe', { topics: ['chat:other'] });
    expect(subscribeRefused.event).toBe('error');

    await redis.restart();
    await b.healthBecomes(200);
    await c.healthBecomes(200);
    const metrics = (await b.http('GET', '/metrics')).text;
    expect(metrics).toMatch(/^realtime_engine_up 1$/m);
    expect(metrics).toMatch(/^realtime_engine_round_trip_seconds 0\.\d+/m);

    const after = await onB.request('publish', { topic: 'chat:fault', type: 'x', payload: 2 });
    expect(after.event).toBe('published');
    const received = await onC.waitFor((f) => f.data?.payload === 2);
    expect(received.data.offset).toBe(after.data.offset);
    await onB.waitFor((f) => f.event === 'message' && f.data?.payload === 2);
    expect(onC.messages('chat:fault').map((m) => m.payload)).toEqual([0, 2]);

    // The restart lost the history: an offset from before is answered recovered: false.
    const late: TestClient = await c.connect({ token });
    const reply = await late.request('subscribe', {
      topics: ['chat:fault'],
      since: { 'chat:fault': before.data.offset },
    });
    expect(reply.data.topics[0]).toMatchObject({ topic: 'chat:fault', recovered: false });
    expect(subscribed.event).toBe('subscribed');

    expect(closes).toEqual([]);
    expect(onB.isOpen && onC.isOpen).toBe(true);
    expect([b.child.exitCode, c.child.exitCode]).toEqual([null, null]);
  });

  it('shuts down cleanly in Redis mode: SIGTERM exits 0', async () => {
    await c.stop();
    expect(await c.exitStatus()).toBe('exit 0');
  });
});

/**
 * PROTOCOL.md §7 and docs/guarantees.md "Revocations reach every instance":
 * the chaos run's sequence. Redis restarts from its AOF while a revocation
 * is asked for (503), and the link of instance C (through a proxy) then goes
 * dead without closing (half-open: a NAT, a vanished peer). The revocation
 * made on A after the restart reaches C's clients anyway: C's PINGs find the
 * dead link within redis.pingIntervalMs + pingTimeoutMs (5 s + 3 s), its
 * subscriber reconnects and replays what it missed.
 */
describe('a revocation around a Redis restart (AOF), on an instance whose link then goes dead', () => {
  const aofDir = mkdtempSync(join(tmpdir(), 'revocation-aof-'));
  let redis: TestRedis;
  let proxy: TcpProxy;
  let a: DemoProcess;
  let c: DemoProcess;

  beforeAll(async () => {
    redis = await TestRedis.start({ appendOnlyDir: aofDir });
    proxy = await TcpProxy.start(redis.port);
    [a, c] = await Promise.all([
      DemoProcess.start({ REDIS_URL: redis.url }),
      DemoProcess.start({ REDIS_URL: `redis://127.0.0.1:${proxy.port}` }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), c?.stop()]);
    await proxy?.stop();
    await redis?.stop();
    rmSync(aofDir, { recursive: true, force: true });
  });

  it('closes the user’s sockets on C with 4003 within the bound, and C refuses the token', async () => {
    const admin = await a.token('root', ['admin']);
    const token = await a.token('revoked-around-restart');
    const clients = [await c.connect({ token }), await c.connect({ token })];
    const bystander = await c.connect({ token: await a.token('bystander') });
    const revoke = () =>
      a.http('POST', '/admin/revoke', { userId: 'revoked-around-restart' }, admin);

    await redis.stop({ graceful: true });
    expect((await revoke()).status).toBe(503);
    await redis.restart();
    await a.healthBecomes(200);
    await c.healthBecomes(200);
    proxy.freeze();

    const closes = clients.map((client) => closeOf(client, 12_000));
    expect((await revoke()).status).toBe(202);
    // 2 s on a live link, plus finding the dead one (5 s + 3 s), plus the reconnect.
    for (const closed of await Promise.all(closes)) expect(closed.code).toBe(4003);
    expect(bystander.isOpen).toBe(true);
    expect(await c.tryConnect({ token })).toMatchObject({ kind: 'refused', status: 401 });
  });
});
