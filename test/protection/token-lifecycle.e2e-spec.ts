import { nowSeconds, unsecuredJwt } from '../support/jwt';
import { ProtectedApp } from '../support/protected-app';
import { expectRefused } from '../support/refusals';
import { closeOf, sleep } from '../support/waits';

// Real timers (expiry, heartbeat, grace periods): more than Jest's default 5 s per test.
jest.setTimeout(20_000);

/**
 * Close must come at the token's expiry (tolerance 0), never before it, and
 * long before the heartbeat's sweep (20 s): the expiry timer, not a sweep.
 * How late a timer fires is the machine's; how early, the code's.
 */
const EARLY_MS = 25;
const LATE_MS = 5_000;

/**
 * A token's life on an open connection: 4001 at `exp`, `auth` refreshes (same
 * `sub`) or signs an anonymous connection in, anything else is UNAUTHORIZED
 * and leaves the connection as it was.
 */
describe('token lifecycle', () => {
  let app: ProtectedApp;

  beforeAll(async () => {
    app = await ProtectedApp.start({
      realtime: {
        jwt: { clockToleranceSec: 0 },
        // The heartbeat sweep is far away: a close near `exp` can only come from the expiry timer.
        heartbeat: { intervalMs: 20_000, pongTimeoutMs: 5_000 },
        limits: { maxConnectionsPerUser: 2 },
      },
    });
  });
  afterAll(() => app.stop());

  it('closes with 4001 at the token expiry time', async () => {
    const exp = nowSeconds() + 2;
    const client = await app.connectAs('eve', { exp });
    const closed = closeOf(client, 10_000);
    const open = app.stats().connections;
    expect(client.frames[0].data).toMatchObject({ userId: 'eve', expiresAt: exp * 1000 });
    expect((await client.request('ping')).event).toBe('pong');

    const close = await closed;
    expect(close).toMatchObject({ code: 4001, reason: 'token expired' });
    expect(close.at).toBeGreaterThanOrEqual(exp * 1000 - EARLY_MS);
    expect(close.at).toBeLessThan(exp * 1000 + LATE_MS);
    await app.waitForConnections(open - 1);
    expect(app.stats().counters.closed).toMatchObject({ 4001: 1 });
    await expectRefused(app, 401, { token: app.token('eve', { exp }) });
  });

  it('extends the expiry on `auth` with a fresh token for the same sub', async () => {
    const exp = nowSeconds() + 2;
    const client = await app.connectAs('fay', { exp });
    const later = nowSeconds() + 120;
    const reply = await client.request('auth', { token: app.token('fay', { exp: later }) });
    expect(reply).toEqual({
      event: 'authenticated',
      data: { ref: expect.any(String), userId: 'fay', expiresAt: later * 1000 },
    });

    // Past the first expiry: its timer would have closed the connection by now.
    await sleep(exp * 1000 + 600 - Date.now());
    expect(client.isOpen).toBe(true);
    expect((await client.request('ping')).event).toBe('pong');
  });

  it('follows a refresh to an earlier expiry too', async () => {
    const client = await app.connectAs('gil', { ttlSeconds: 600 });
    const exp = nowSeconds() + 2;
    const closed = closeOf(client, 10_000);
    expect(
      (await client.request('auth', { token: app.token('gil', { exp }) })).data.expiresAt,
    ).toBe(exp * 1000);
    const close = await closed;
    expect(close.code).toBe(4001);
    expect(close.at).toBeGreaterThanOrEqual(exp * 1000 - EARLY_MS);
    expect(close.at).toBeLessThan(exp * 1000 + LATE_MS);
  });

  it('answers UNAUTHORIZED to a bad `auth` and changes nothing: same user, same expiry', async () => {
    const exp = nowSeconds() + 3;
    const client = await app.connectAs('hal', { exp });
    const closed = closeOf(client, 10_000);
    const refusedTokens: Array<[string, string]> = [
      [app.token('ivy', { ttlSeconds: 600 }), 'token is for another user'],
      [app.token('hal', { exp: nowSeconds() - 10 }), 'token expired'],
      [
        app.token('hal', { secret: 'another-secret-that-is-long-enough-0123456789' }),
        'invalid token',
      ],
      [unsecuredJwt({ sub: 'hal', exp: nowSeconds() + 600 }), 'invalid token'],
      [app.token('hal', { exp: null }), 'token has no exp'],
      ['garbage', 'invalid token'],
    ];
    const revoked = app.token('hal', { jti: 'hal-revoked', ttlSeconds: 600 });
    await app.revocations.revoke({ tokenId: 'hal-revoked' });
    refusedTokens.push([revoked, 'token revoked']);

    for (const [token, message] of refusedTokens) {
      const reply = await client.request('auth', { token });
      expect(reply).toEqual({
        event: 'error',
        data: { ref: expect.any(String), code: 'UNAUTHORIZED', message },
      });
      expect(client.isOpen).toBe(true);
    }
    const bad = await client.request('auth', {});
    expect(bad.data.code).toBe('BAD_REQUEST');
    expect((await client.request('subscribe', { topics: ['user:hal'] })).event).toBe('subscribed');
    expect((await client.request('subscribe', { topics: ['user:ivy'] })).data.code).toBe(
      'FORBIDDEN_TOPIC',
    );

    // Still hal, still the first token's expiry.
    const close = await closed;
    expect(close.code).toBe(4001);
    expect(close.at).toBeGreaterThanOrEqual(exp * 1000 - EARLY_MS);
    expect(close.at).toBeLessThan(exp * 1000 + LATE_MS);
  });

  it('signs an anonymous connection in with `auth`; the user topics become allowed', async () => {
    const client = await app.connect();
    expect(client.frames[0].data).toMatchObject({ userId: null, expiresAt: null });
    expect((await client.request('subscribe', { topics: ['news'] })).event).toBe('subscribed');
    const refused = await client.request('subscribe', { topics: ['orders'] });
    expect(refused.data).toMatchObject({ code: 'UNAUTHORIZED', topic: 'orders' });
    const usersBefore = app.stats().users;

    const later = nowSeconds() + 600;
    const reply = await client.request('auth', {
      token: app.token('jo', { exp: later, roles: ['admin'] }),
    });
    expect(reply.data).toEqual({ ref: expect.any(String), userId: 'jo', expiresAt: later * 1000 });
    expect(app.stats().users).toBe(usersBefore + 1);

    const subscribed = await client.request('subscribe', {
      topics: ['orders', 'user:jo', 'admin'],
    });
    expect(subscribed.data.topics.map((t: { topic: string }) => t.topic)).toEqual([
      'orders',
      'user:jo',
      'admin',
    ]);
    expect((await client.request('subscribe', { topics: ['user:kim'] })).data).toMatchObject({
      code: 'FORBIDDEN_TOPIC',
      topic: 'user:kim',
    });
    await app.broadcasts.publish('orders', 'order.created', { id: 1 });
    const message = await client.waitFor((f) => f.event === 'message' && f.data.topic === 'orders');
    expect(message.data.payload).toEqual({ id: 1 });

    // Now bound to jo: another user's token is refused.
    expect((await client.request('auth', { token: app.token('kim') })).data.code).toBe(
      'UNAUTHORIZED',
    );
  });

  it('arms the expiry of a token an anonymous connection signed in with', async () => {
    const client = await app.connect();
    const exp = nowSeconds() + 2;
    const closed = closeOf(client, 10_000);
    expect((await client.request('auth', { token: app.token('lu', { exp }) })).event).toBe(
      'authenticated',
    );
    const close = await closed;
    expect(close.code).toBe(4001);
    expect(close.at).toBeGreaterThanOrEqual(exp * 1000 - EARLY_MS);
    expect(close.at).toBeLessThan(exp * 1000 + LATE_MS);
  });

  it('keeps the per-user limit when an anonymous connection signs in', async () => {
    await app.connectAs('max');
    await app.connectAs('max');
    const anonymous = await app.connect();
    const reply = await anonymous.request('auth', { token: app.token('max') });
    expect(reply.data).toMatchObject({
      code: 'UNAUTHORIZED',
      message: 'too many connections for this user',
    });
    expect(anonymous.isOpen).toBe(true);
    expect((await anonymous.request('subscribe', { topics: ['orders'] })).data.code).toBe(
      'UNAUTHORIZED',
    );
  });

  it('drops held topics a refreshed token no longer allows, and says so before the reply', async () => {
    const client = await app.connectAs('ida', { roles: ['admin'] });
    await client.request('subscribe', { topics: ['admin', 'orders'] });
    const from = client.frames.length;

    const reply = await client.request('auth', { token: app.token('ida', { roles: [] }) });
    expect(reply.event).toBe('authenticated');
    const frames = client.frames.slice(from).map((f) => f.event);
    expect(frames.indexOf('unsubscribed')).toBeLessThan(frames.indexOf('authenticated'));
    expect(client.framesOf('unsubscribed').at(-1)?.data).toEqual({ topics: ['admin'] });

    await app.broadcasts.publish('admin', 'secret', { n: 1 });
    await app.broadcasts.publish('orders', 'order.created', { n: 2 });
    await client.waitFor((f) => f.event === 'message' && f.data.topic === 'orders', { from });
    expect(client.messages('admin')).toEqual([]);
    expect((await client.request('subscribe', { topics: ['admin'] })).data.code).toBe(
      'FORBIDDEN_TOPIC',
    );
  });
});
