import { Injectable } from '@nestjs/common';
import type { TopicAuthorizer } from '@nest-realtime/server';
import { DemoApp } from '../support/demo-app';
import { decodeJwt, nowSeconds } from '../support/jwt';
import { PROTECTED_TOPICS, ProtectedApp } from '../support/protected-app';
import { expectAccepted, expectRefused } from '../support/refusals';
import { closeOf, sleep, waitUntil } from '../support/waits';
import type { TestClient } from '../support/ws-client';

// Real timers (expiry, heartbeat, grace periods): more than Jest's default 5 s per test.
jest.setTimeout(20_000);

async function expectStillOpen(...clients: TestClient[]): Promise<void> {
  for (const client of clients) {
    expect(client.isOpen).toBe(true);
    expect((await client.request('ping')).event).toBe('pong');
  }
}

/** Waits until the next wall-clock second: `iat` has one-second resolution. */
async function nextSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 20);
}

/** PROTOCOL.md §6 (4003) and §7 (`POST /admin/revoke`): revoked tokens are closed, then refused. */
describe('revocation', () => {
  describe('through POST /admin/revoke (demo app)', () => {
    let demo: DemoApp;
    let admin: string;

    beforeAll(async () => {
      demo = await DemoApp.start();
      admin = await demo.token('root', ['admin']);
    });
    afterAll(() => demo.stop());

    it('is for admins only: 401 without a token, 403 without the role, nothing closed', async () => {
      const rita = await demo.token('rita');
      const client = await demo.connect({ token: rita });
      const jti = String(decodeJwt(rita).jti);
      expect((await demo.http('POST', '/admin/revoke', { jti })).status).toBe(401);
      expect((await demo.http('POST', '/admin/revoke', { jti }, rita)).status).toBe(403);
      expect((await demo.http('POST', '/admin/revoke', {}, admin)).status).toBe(400);
      await expectStillOpen(client);
    });

    it('by jti: closes that token’s connections with 4003, then refuses the token with 401', async () => {
      const first = await demo.token('rita');
      const second = await demo.token('rita');
      const revoked = await demo.connect({ token: first });
      const sibling = await demo.connect({ token: second });
      const other = await demo.connect({ token: await demo.token('sam') });
      const closed = closeOf(revoked, 3_000);

      const response = await demo.http(
        'POST',
        '/admin/revoke',
        { jti: decodeJwt(first).jti },
        admin,
      );
      expect(response.status).toBe(202);
      expect(await closed).toMatchObject({ code: 4003, reason: 'revoked' });
      await expectStillOpen(sibling, other);

      const again = await demo.tryConnect({ token: first });
      expect(again).toMatchObject({ kind: 'refused', status: 401, body: 'token revoked' });
      expect((await demo.tryConnect({ token: second })).kind).toBe('open');
    });

    it('by userId: closes every connection of the user with 4003; a token issued later works', async () => {
      const first = await demo.token('tess');
      const second = await demo.token('tess');
      const clients = [await demo.connect({ token: first }), await demo.connect({ token: second })];
      const other = await demo.connect({ token: await demo.token('ugo') });
      const closed = clients.map((c) => closeOf(c, 3_000));

      expect((await demo.http('POST', '/admin/revoke', { userId: 'tess' }, admin)).status).toBe(
        202,
      );
      for (const close of await Promise.all(closed)) expect(close.code).toBe(4003);
      await expectStillOpen(other);
      for (const token of [first, second]) {
        expect(await demo.tryConnect({ token })).toMatchObject({ kind: 'refused', status: 401 });
      }

      await nextSecond();
      const fresh = await demo.token('tess');
      const client = await demo.connect({ token: fresh });
      expect(client.frames[0].data.userId).toBe('tess');
    });
  });

  describe('through RevocationService', () => {
    @Injectable()
    class GateAuthorizer implements TopicAuthorizer {
      entered = 0;
      private release: () => void = () => undefined;
      private readonly gate = new Promise<void>((resolve) => (this.release = resolve));

      async authorize(): Promise<boolean> {
        this.entered++;
        await this.gate;
        return true;
      }

      open(): void {
        this.release();
      }
    }

    let app: ProtectedApp;

    beforeAll(async () => {
      app = await ProtectedApp.start({
        realtime: {
          topics: { ...PROTECTED_TOPICS, gated: { subscribe: { authorizer: GateAuthorizer } } },
        },
        providers: [GateAuthorizer],
      });
    });
    afterAll(() => app.stop());

    it('by tokenId: 4003 now, 401 at the next handshake; other tokens of the user unaffected', async () => {
      const token = app.token('vic', { jti: 'vic-1' });
      const revoked = await app.connect({ token });
      const byHeader = await app.connect({}, { headers: { Authorization: `Bearer ${token}` } });
      const sibling = await app.connectAs('vic', { jti: 'vic-2' });
      const closed = [closeOf(revoked, 3_000), closeOf(byHeader, 3_000)];

      await app.revocations.revoke({ tokenId: 'vic-1' });
      for (const close of await Promise.all(closed))
        expect(close).toMatchObject({ code: 4003, reason: 'revoked' });
      await expectStillOpen(sibling);
      await expectRefused(app, 401, { token });
      await expectRefused(app, 401, {}, { headers: { Authorization: `Bearer ${token}` } });
    });

    it('by userId: every connection of the user, however it signed in, closes with 4003', async () => {
      const viaQuery = await app.connectAs('wen');
      const viaAuth = await app.connect();
      expect((await viaAuth.request('auth', { token: app.token('wen') })).event).toBe(
        'authenticated',
      );
      const anonymous = await app.connect();
      const other = await app.connectAs('xia');
      const closed = [closeOf(viaQuery, 3_000), closeOf(viaAuth, 3_000)];
      const earlier = app.token('wen', { iat: nowSeconds() - 60 });

      await app.revocations.revoke({ userId: 'wen' });
      for (const close of await Promise.all(closed)) expect(close.code).toBe(4003);
      await expectStillOpen(anonymous, other);
      await expectRefused(app, 401, { token: earlier });
      // An anonymous connection cannot sign in as the revoked user either.
      const reply = await anonymous.request('auth', { token: earlier });
      expect(reply.data).toMatchObject({ code: 'UNAUTHORIZED', message: 'token revoked' });
      await expectStillOpen(anonymous);
    });

    it('follows the token a connection refreshed to', async () => {
      const client = await app.connectAs('yan', { jti: 'yan-old' });
      const closed = closeOf(client, 5_000);
      expect(
        (await client.request('auth', { token: app.token('yan', { jti: 'yan-new' }) })).event,
      ).toBe('authenticated');
      await app.revocations.revoke({ tokenId: 'yan-old' });
      await expectStillOpen(client);
      await app.revocations.revoke({ tokenId: 'yan-new' });
      expect((await closed).code).toBe(4003);
    });

    it('refuses a token revoked while its handshake was still being checked', async () => {
      const gate = app.app.get(GateAuthorizer);
      const token = app.token('zed', { jti: 'zed-racing' });
      const attempt = app.tryConnect({ token, subscribe: 'gated:1' });
      await waitUntil(() => gate.entered === 1, 3_000, 'authorizer entered');
      await app.revocations.revoke({ tokenId: 'zed-racing' });
      gate.open();

      const result = await attempt;
      if (result.kind === 'open') {
        const close = await closeOf(result.client, 1_000).catch(() => undefined);
        throw new Error(`a revoked token got a connection (closed: ${JSON.stringify(close)})`);
      }
      expect(result).toMatchObject({ kind: 'refused', status: 401 });
      await expectAccepted(app, { token: app.token('zed'), subscribe: 'gated:1' });
    });
  });
});
