import { Injectable } from '@nestjs/common';
import type { TopicAuthorizer } from '@nest-realtime/server';
import { type Socket, connect as tcpConnect } from 'node:net';
import { nowSeconds, signJwt, unsecuredJwt } from '../support/jwt';
import { ALLOWED_ORIGIN, PROTECTED_TOPICS, ProtectedApp } from '../support/protected-app';
import { expectAccepted, expectRefused } from '../support/refusals';
import { waitUntil } from '../support/waits';

// Real timers (expiry, heartbeat, grace periods): more than Jest's default 5 s per test.
jest.setTimeout(20_000);

/**
 * PROTOCOL.md §1: every refused handshake is an HTTP status, never an upgrade,
 * and leaves nothing registered on the server.
 */
describe('handshake refusals', () => {
  describe('401: credentials (anonymous not allowed)', () => {
    let app: ProtectedApp;

    beforeAll(async () => {
      app = await ProtectedApp.start({ realtime: { allowAnonymous: false } });
    });
    afterAll(() => app.stop());

    it('refuses a handshake without a token', async () => {
      const refusal = await expectRefused(app, 401);
      expect(refusal.body).toBe('token required');
      await expectRefused(app, 401, { token: '' });
      await expectRefused(app, 401, {}, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } });
    });

    it('refuses malformed tokens', async () => {
      for (const token of [
        'not-a-jwt',
        'a.b.c',
        'eyJhbGciOiJIUzI1NiJ9..',
        '....',
        'x'.repeat(5000),
      ]) {
        await expectRefused(app, 401, { token });
      }
      await expectRefused(app, 401, {}, { headers: { Authorization: 'Bearer not-a-jwt' } });
    });

    it('refuses a bad signature: another key, a tampered payload, another HMAC algorithm', async () => {
      const exp = nowSeconds() + 600;
      await expectRefused(app, 401, {
        token: signJwt({ sub: 'mallory', exp }, 'some-other-secret-that-is-long-enough-0123456789'),
      });
      const [head, , signature] = app.token('alice').split('.');
      const forged = Buffer.from(JSON.stringify({ sub: 'root', exp, roles: ['admin'] })).toString(
        'base64url',
      );
      await expectRefused(app, 401, { token: `${head}.${forged}.${signature}` });
      // Right key, algorithm not on the list (only HS256 is configured).
      await expectRefused(app, 401, {
        token: signJwt({ sub: 'alice', exp }, app.secret, { alg: 'HS512' }),
      });
    });

    it('refuses an expired token (clock tolerance 0)', async () => {
      await expectRefused(app, 401, { token: app.token('alice', { exp: nowSeconds() - 1 }) });
      const refusal = await expectRefused(app, 401, {
        token: app.token('alice', { exp: nowSeconds() - 3600 }),
      });
      expect(refusal.body).toBe('token expired');
    });

    it('refuses a token without exp, and one without sub', async () => {
      await expectRefused(app, 401, { token: app.token('alice', { exp: null }) });
      await expectRefused(app, 401, {
        token: signJwt({ exp: nowSeconds() + 600, roles: [] }, app.secret),
      });
    });

    it('refuses an alg:none token, even with a valid signature appended', async () => {
      const claims = { sub: 'alice', exp: nowSeconds() + 600 };
      await expectRefused(app, 401, { token: unsecuredJwt(claims) });
      const signature = app.token('alice').split('.')[2];
      await expectRefused(app, 401, { token: `${unsecuredJwt(claims)}${signature}` });
      await expectRefused(
        app,
        401,
        {},
        { headers: { Authorization: `Bearer ${unsecuredJwt(claims)}` } },
      );
    });

    it('refuses a token revoked by jti, and every earlier token of a user revoked by id', async () => {
      const revokedJti = app.token('rita', { jti: 'jti-revoked-at-handshake' });
      const sibling = app.token('rita', { jti: 'jti-sibling' });
      await app.revocations.revoke({ tokenId: 'jti-revoked-at-handshake' });
      expect((await expectRefused(app, 401, { token: revokedJti })).body).toBe('token revoked');
      await expectAccepted(app, { token: sibling });

      const before = app.token('victor', { iat: nowSeconds() - 5 });
      await expectAccepted(app, { token: app.token('walter') });
      await app.revocations.revoke({ userId: 'victor' });
      await expectRefused(app, 401, { token: before });
      await expectRefused(app, 401, {}, { headers: { Authorization: `Bearer ${before}` } });
      await expectAccepted(app, { token: app.token('walter') });
    });

    it('accepts a valid token in ?token= and in Authorization: Bearer', async () => {
      const exp = nowSeconds() + 600;
      const token = app.token('alice', { exp });
      const viaQuery = await expectAccepted(app, { token });
      expect(viaQuery.frames[0].data).toEqual({
        connectionId: expect.any(String),
        userId: 'alice',
        heartbeatMs: 30_000,
        expiresAt: exp * 1000,
      });
      const viaHeader = await expectAccepted(
        app,
        {},
        { headers: { Authorization: `Bearer ${token}` } },
      );
      expect(viaHeader.frames[0].data.userId).toBe('alice');
      const lowerCase = await expectAccepted(
        app,
        {},
        { headers: { authorization: `bearer ${token}` } },
      );
      expect(lowerCase.frames[0].data.userId).toBe('alice');
    });

    it('reads the header when ?token= is present but empty', async () => {
      const client = await expectAccepted(
        app,
        { token: '' },
        { headers: { Authorization: `Bearer ${app.token('alice')}` } },
      );
      expect(client.frames[0].data.userId).toBe('alice');
    });

    it('takes ?token= first: a bad query token is not rescued by a good header', async () => {
      const good = app.token('alice');
      await expectRefused(
        app,
        401,
        { token: 'garbage' },
        { headers: { Authorization: `Bearer ${good}` } },
      );
      const client = await expectAccepted(
        app,
        { token: app.token('bob') },
        { headers: { Authorization: `Bearer ${good}` } },
      );
      expect(client.frames[0].data.userId).toBe('bob');
    });
  });

  describe('403: origin and ?subscribe=', () => {
    let app: ProtectedApp;

    beforeAll(async () => {
      app = await ProtectedApp.start({
        realtime: { allowedOrigins: [ALLOWED_ORIGIN, 'http://localhost:8080'] },
      });
    });
    afterAll(() => app.stop());

    it('refuses an Origin that is not on the allow-list', async () => {
      for (const origin of [
        'https://evil.example.com',
        'http://app.example.com',
        'https://app.example.com:8443',
        'https://app.example.com.evil.com',
        'https://sub.app.example.com',
        'http://localhost:8081',
        'null',
        'file://',
        'not an origin',
      ]) {
        const refusal = await expectRefused(app, 403, {}, { origin });
        expect(refusal.body).toBe('origin not allowed');
      }
    });

    it('allows an Origin equal to an allowed one after normalisation', async () => {
      for (const origin of [
        'https://app.example.com',
        'HTTPS://APP.example.com:443',
        'https://App.Example.COM',
        'https://app.example.com/',
        'http://LOCALHOST:8080',
      ]) {
        await expectAccepted(app, {}, { origin });
      }
    });

    it('allows a handshake without Origin (non-browser client)', async () => {
      const client = await expectAccepted(app);
      expect(client.frames[0].data.userId).toBeNull();
    });

    it('refuses ?subscribe= naming a refused topic, and subscribes nothing', async () => {
      const token = app.token('alice');
      await expectRefused(app, 403, { subscribe: 'news,orders' }); // anonymous on authenticated
      await expectRefused(app, 403, { token, subscribe: 'news,admin' }); // role missing
      await expectRefused(app, 403, { token, subscribe: 'user:bob' }); // not the owner
      await expectRefused(app, 403, { token, subscribe: 'unlisted' }); // no policy
      await expectRefused(app, 403, { token, subscribe: 'news,Bad Topic!' }); // invalid name
      expect(app.stats().subscriptions).toBe(0);
    });

    it('refuses ?subscribe= over the subscription limit', async () => {
      const topics = Array.from({ length: 4 }, (_, i) => `news:${i}`);
      const small = await ProtectedApp.start({ realtime: { limits: { maxSubscriptions: 3 } } });
      try {
        const refusal = await expectRefused(small, 403, { subscribe: topics.join(',') });
        expect(refusal.body).toBe('subscribe refused: SUBSCRIPTION_LIMIT');
        await expectAccepted(small, { subscribe: topics.slice(0, 3).join(',') });
      } finally {
        await small.stop();
      }
    });

    it('subscribes at connect time when every topic is allowed', async () => {
      const client = await expectAccepted(app, {
        token: app.token('alice'),
        subscribe: 'news,orders,user:alice',
      });
      const subscribed = await client.waitFor((f) => f.event === 'subscribed');
      expect(client.frames.indexOf(subscribed)).toBe(1);
      expect(subscribed.data.ref).toBeUndefined();
      expect(subscribed.data.topics.map((t: { topic: string }) => t.topic)).toEqual([
        'news',
        'orders',
        'user:alice',
      ]);
    });
  });

  describe('403: blocked addresses and X-Forwarded-For', () => {
    const FORGED = '203.0.113.7';

    it('refuses a blocked peer address, whatever its token', async () => {
      const app = await ProtectedApp.start({
        realtime: { network: { blockedIps: ['127.0.0.1'] } },
      });
      try {
        expect((await expectRefused(app, 403)).body).toBe('address blocked');
        await expectRefused(app, 403, { token: app.token('alice') });
      } finally {
        await app.stop();
      }
    });

    it('believes X-Forwarded-For only from a trusted proxy, read from the right', async () => {
      const app = await ProtectedApp.start({
        realtime: { network: { trustedProxies: ['127.0.0.1'], blockedIps: [FORGED] } },
      });
      try {
        const via = (xff: string) => ({ headers: { 'X-Forwarded-For': xff } });
        await expectRefused(app, 403, {}, via(FORGED));
        await expectRefused(app, 403, {}, via(`${FORGED}, 127.0.0.1`)); // trusted hop skipped
        // A client cannot hide behind an address it prepends itself.
        await expectAccepted(app, {}, via(`${FORGED}, 198.51.100.20`));
        await expectAccepted(app, {}, via('198.51.100.21'));
        await expectAccepted(app);
      } finally {
        await app.stop();
      }
    });

    it('blocks an address however a trusted proxy spells it', async () => {
      const app = await ProtectedApp.start({
        realtime: {
          network: { trustedProxies: ['127.0.0.1'], blockedIps: [FORGED, '2001:db8::7'] },
        },
      });
      try {
        const via = (xff: string) => ({ headers: { 'X-Forwarded-For': xff } });
        await expectRefused(app, 403, {}, via(`::ffff:${FORGED}`));
        await expectRefused(app, 403, {}, via(` ${FORGED} `));
        await expectRefused(app, 403, {}, via('2001:0db8:0000:0000:0000:0000:0000:0007'));
        await expectAccepted(app, {}, via('2001:db8::8'));
      } finally {
        await app.stop();
      }
    });

    it('ignores X-Forwarded-For when the peer is not a trusted proxy', async () => {
      const app = await ProtectedApp.start({ realtime: { network: { blockedIps: [FORGED] } } });
      try {
        await expectAccepted(app, {}, { headers: { 'X-Forwarded-For': FORGED } });
        await expectAccepted(app, {}, { headers: { 'X-Forwarded-For': `${FORGED}, ${FORGED}` } });
      } finally {
        await app.stop();
      }
    });
  });

  describe('429: per-IP and per-user limits', () => {
    it('refuses connection attempts over the rate per IP, refused attempts included', async () => {
      const app = await ProtectedApp.start({
        realtime: { limits: { connectRate: 3, connectWindowMs: 60_000 } },
      });
      try {
        const first = await expectAccepted(app);
        await first.close();
        await expectRefused(app, 401, { token: 'garbage' }); // counted all the same
        await expectAccepted(app);
        const refusal = await expectRefused(app, 429);
        expect(refusal.body).toBe('too many connection attempts');
        expect(refusal.headers?.['retry-after']).toBe('60');
        await expectRefused(app, 429, { token: app.token('alice') });
      } finally {
        await app.stop();
      }
    });

    it('refuses concurrent connections per IP at the limit, and frees the slot on close', async () => {
      const app = await ProtectedApp.start({ realtime: { limits: { maxConnectionsPerIp: 2 } } });
      try {
        const first = await expectAccepted(app);
        await expectAccepted(app, { token: app.token('alice') });
        const refusal = await expectRefused(app, 429, { token: app.token('bob') });
        expect(refusal.body).toBe('too many connections from this address');
        expect(refusal.headers?.['retry-after']).toBe('5');
        await first.close();
        await app.waitForConnections(1);
        await expectAccepted(app);
      } finally {
        await app.stop();
      }
    });

    it('refuses concurrent connections per user at the limit; other users and anonymous unaffected', async () => {
      const app = await ProtectedApp.start({ realtime: { limits: { maxConnectionsPerUser: 2 } } });
      try {
        await expectAccepted(app, { token: app.token('alice') });
        const second = await expectAccepted(
          app,
          {},
          { headers: { Authorization: `Bearer ${app.token('alice')}` } },
        );
        const refusal = await expectRefused(app, 429, { token: app.token('alice') });
        expect(refusal.body).toBe('too many connections for this user');
        await expectAccepted(app, { token: app.token('bob') });
        await expectAccepted(app);
        await expectAccepted(app);
        await second.close();
        await app.waitForConnections(4);
        await expectAccepted(app, { token: app.token('alice') });
      } finally {
        await app.stop();
      }
    });

    it('lets an allow-listed IP skip the per-IP limits (not the per-user one)', async () => {
      const app = await ProtectedApp.start({
        realtime: {
          network: { allowedIps: ['127.0.0.1'] },
          limits: { connectRate: 2, maxConnectionsPerIp: 1, maxConnectionsPerUser: 2 },
        },
      });
      try {
        for (let i = 0; i < 5; i++) await expectAccepted(app);
        await expectAccepted(app, { token: app.token('alice') });
        await expectAccepted(app, { token: app.token('alice') });
        await expectRefused(app, 429, { token: app.token('alice') });
        expect(app.stats().connections).toBe(7);
      } finally {
        await app.stop();
      }
    });

    it('applies the allow-list and the limits to the address a trusted proxy forwards', async () => {
      const app = await ProtectedApp.start({
        realtime: {
          network: { trustedProxies: ['127.0.0.1'], allowedIps: ['198.51.100.9'] },
          limits: { connectRate: 100, maxConnectionsPerIp: 1 },
        },
      });
      try {
        const from = (ip: string) => ({ headers: { 'X-Forwarded-For': ip } });
        for (let i = 0; i < 3; i++) await expectAccepted(app, {}, from('198.51.100.9'));
        await expectAccepted(app, {}, from('192.0.2.1'));
        await expectRefused(app, 429, {}, from('192.0.2.1'));
        await expectAccepted(app, {}, from('192.0.2.2'));
        // One IPv6 /64 is one client: rotating addresses inside it does not reset the limit.
        await expectAccepted(app, {}, from('2001:db8:0:1::1'));
        await expectRefused(app, 429, {}, from('2001:db8:0:1::2'));
        await expectRefused(app, 429, {}, from('2001:db8:0:1:ffff:ffff:ffff:ffff'));
        await expectAccepted(app, {}, from('2001:db8:0:2::1'));
        // An IPv4-mapped IPv6 address is the IPv4 address.
        await expectRefused(app, 429, {}, from('::ffff:192.0.2.2'));
      } finally {
        await app.stop();
      }
    });
  });

  describe('503: global connection limit', () => {
    it('refuses past maxConnections with Retry-After, and admits again once one closes', async () => {
      const app = await ProtectedApp.start({ realtime: { limits: { maxConnections: 2 } } });
      try {
        const first = await expectAccepted(app);
        await expectAccepted(app, { token: app.token('alice') });
        const refusal = await expectRefused(app, 503, { token: app.token('bob') });
        expect(refusal.body).toBe('server full');
        expect(refusal.headers?.['retry-after']).toBe('5');
        await first.close();
        await app.waitForConnections(1);
        await expectAccepted(app, { token: app.token('bob') });
        expect(app.stats().counters.refused).toEqual({ 503: 1 });
      } finally {
        await app.stop();
      }
    });
  });

  describe('limits reached while a handshake waits for an authorizer', () => {
    /** Holds every `?subscribe=gated:…` handshake until the test lets them all go. */
    @Injectable()
    class HeldAuthorizer implements TopicAuthorizer {
      entered = 0;
      private waiting: Array<() => void> = [];

      authorize(): Promise<boolean> {
        this.entered++;
        return new Promise((resolve) => this.waiting.push(() => resolve(true)));
      }

      releaseAll(): void {
        for (const release of this.waiting.splice(0)) release();
      }
    }

    async function startHeld(limits: Record<string, number>): Promise<ProtectedApp> {
      return ProtectedApp.start({
        realtime: {
          limits,
          topics: { ...PROTECTED_TOPICS, gated: { subscribe: { authorizer: HeldAuthorizer } } },
        },
        providers: [HeldAuthorizer],
      });
    }

    it('503 when the server filled up meanwhile: capacity is checked again after the wait', async () => {
      const app = await startHeld({ maxConnections: 2 });
      try {
        const held = app.app.get(HeldAuthorizer);
        const waiting = app.tryConnect({ token: app.token('amy'), subscribe: 'gated:1' });
        await waitUntil(() => held.entered === 1, 3_000, 'authorizer entered');
        await expectAccepted(app);
        await expectAccepted(app, { token: app.token('ben') });
        held.releaseAll();

        expect(await waiting).toMatchObject({ kind: 'refused', status: 503, body: 'server full' });
        expect(app.stats().connections).toBe(2);
      } finally {
        await app.stop();
      }
    });

    it('a target that only normalises to the realtime path stays pending until its handshake ends', async () => {
      const app = await startHeld({ maxPendingPerIp: 1, handshakeTimeoutMs: 30_000 });
      // Another loopback address, so that the limit is this test's alone.
      const from = { host: '127.0.0.1', port: app.port, localAddress: '127.0.0.3' };
      const held = tcpConnect(from);
      let next: Socket | undefined;
      try {
        held.on('error', () => undefined);
        held.write(
          `GET /x/../ws?token=${app.token('amy')}&subscribe=gated:1 HTTP/1.1\r\n` +
            'Host: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        );
        await waitUntil(
          () => app.app.get(HeldAuthorizer).entered === 1,
          3_000,
          'authorizer entered',
        );
        // The held handshake is still its address's one pending socket: the next is cut at accept
        // (it was released at the upgrade, as if another gateway's, and this one stayed open).
        next = tcpConnect(from);
        next.on('error', () => undefined);
        let closed = false;
        next.on('close', () => (closed = true));
        await waitUntil(() => closed, 3_000, 'second socket cut at accept');
      } finally {
        held.destroy();
        next?.destroy();
        app.app.get(HeldAuthorizer).releaseAll();
        await app.stop();
      }
    });

    it("429 when the user's other connection took the last slot meanwhile", async () => {
      const app = await startHeld({ maxConnectionsPerUser: 1 });
      try {
        const held = app.app.get(HeldAuthorizer);
        const waiting = app.tryConnect({ token: app.token('cid'), subscribe: 'gated:1' });
        await waitUntil(() => held.entered === 1, 3_000, 'authorizer entered');
        await expectAccepted(app, { token: app.token('cid') });
        held.releaseAll();

        expect(await waiting).toMatchObject({
          kind: 'refused',
          status: 429,
          body: 'too many connections for this user',
        });
        expect(app.stats().connections).toBe(1);
      } finally {
        await app.stop();
      }
    });
  });
});
