import type { Socket } from 'node:net';
import { ProtectedApp } from '../support/protected-app';
import { expectRefused } from '../support/refusals';
import { closeOf, waitUntil, within } from '../support/waits';
import { tryConnect, type TestClient } from '../support/ws-client';

// Real timers (expiry, heartbeat, grace periods): more than Jest's default 5 s per test.
jest.setTimeout(20_000);

function tcpOf(client: TestClient): Socket {
  return (client.socket as unknown as { _socket: Socket })._socket;
}

/** PROTOCOL.md §1 (503 while shutting down) and §6 (1001, 1012). */
describe('graceful shutdown', () => {
  it('closes every client with 1001 on app.close(), with a close frame (not 1006)', async () => {
    // Clients that answer the close frame do not make shutdown wait for the grace period: with
    // a grace this long, waiting for it would miss app.close()'s deadline below.
    const graceMs = 20_000;
    const app = await ProtectedApp.start({ realtime: { shutdown: { graceMs } } });
    try {
      const clients = [
        await app.connect(),
        await app.connectAs('alice'),
        await app.connect({ subscribe: 'news' }),
      ];
      const closed = clients.map((c) => closeOf(c, 5_000));
      await within(app.close(), graceMs / 2, 'app.close()');
      for (const close of await Promise.all(closed)) {
        expect(close).toEqual({ code: 1001, reason: 'server going away', at: expect.any(Number) });
      }
    } finally {
      await app.stop();
    }
  });

  it('refuses new handshakes with 503 while shutdown waits for a client that does not answer', async () => {
    const app = await ProtectedApp.start({ realtime: { shutdown: { graceMs: 1_500 } } });
    try {
      const stuck = await app.connect();
      const polite = await app.connect();
      const politeClosed = closeOf(polite, 5_000);
      const stuckClosed = closeOf(stuck, 5_000);
      tcpOf(stuck).pause();
      const url = app.url();
      const started = Date.now();
      const closing = app.close();

      expect((await politeClosed).code).toBe(1001);
      const during = await tryConnect(url);
      expect(during).toMatchObject({ kind: 'refused', status: 503, body: 'server shutting down' });
      if (during.kind === 'refused') expect(during.headers?.['retry-after']).toBe('5');

      await within(closing, 4_000, 'app.close()');
      // Shutdown waited the grace period for the client that did not answer, then cut it off.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
      tcpOf(stuck).resume();
      // Its close frame was sent all the same: reading it now, the client learns why.
      expect((await stuckClosed).code).toBe(1001);
    } finally {
      await app.stop();
    }
  });

  it('drain(1012) closes every client with 1012 and refuses new handshakes with 503', async () => {
    const app = await ProtectedApp.start();
    try {
      const clients = [await app.connect(), await app.connectAs('bob'), await app.connectAs('bob')];
      const closed = clients.map((c) => closeOf(c, 5_000));
      await within(app.lifecycle.drain(1012), 3_000, 'drain');
      for (const close of await Promise.all(closed)) {
        expect(close).toMatchObject({ code: 1012, reason: 'service restart' });
      }
      expect(app.stats().connections).toBe(0);
      const refusal = await expectRefused(app, 503, { token: app.token('carol') });
      expect(refusal.body).toBe('server shutting down');
      await waitUntil(
        () => (app.stats().counters.closed as Record<string, number>)[1012] === 3,
        5_000,
      );
    } finally {
      await app.stop();
    }
  });
});
