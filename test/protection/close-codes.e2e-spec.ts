import type { Socket } from 'node:net';
import { ProtectedApp } from '../support/protected-app';
import { closeOf, sleep, waitUntil, within } from '../support/waits';
import type { TestClient } from '../support/ws-client';

// Real timers (expiry, heartbeat, grace periods): more than Jest's default 5 s per test.
jest.setTimeout(20_000);

/** The TCP socket under a ws client (ws keeps it in `_socket`). */
function tcpOf(client: TestClient): Socket {
  return (client.socket as unknown as { _socket: Socket })._socket;
}

/** PROTOCOL.md §6: the server closes with the code that says why. */
describe('close codes', () => {
  describe('1009: inbound frame over maxMessageBytes', () => {
    let app: ProtectedApp;

    beforeAll(async () => {
      app = await ProtectedApp.start({ realtime: { limits: { maxMessageBytes: 1024 } } });
    });
    afterAll(() => app.stop());

    it('answers a frame at the limit and closes on one byte more; a neighbour is untouched', async () => {
      const big = await app.connect({ subscribe: 'news' });
      const neighbour = await app.connect({ subscribe: 'news' });
      const closed = closeOf(big, 3_000);
      const atLimit = JSON.stringify({ event: 'ping', data: { ref: 'fits', pad: '' } });
      const fits = atLimit.replace('"pad":""', `"pad":"${'p'.repeat(1024 - atLimit.length)}"`);
      expect(Buffer.byteLength(fits)).toBe(1024);
      big.sendRaw(fits);
      const reply = await big.waitFor((f) => f.data?.ref === 'fits');
      expect(reply.data.code).toBe('BAD_REQUEST'); // `pad` is an unknown field, but the frame was read

      big.sendRaw(fits.replace('"pad":"', '"pad":"p'));
      expect((await closed).code).toBe(1009);
      await app.broadcasts.publish('news', 'after', { ok: true });
      const message = await neighbour.waitFor((f) => f.event === 'message');
      expect(message.data).toMatchObject({ topic: 'news', type: 'after', payload: { ok: true } });
      expect((await neighbour.request('ping')).event).toBe('pong');
      await app.waitForConnections(1);
    });

    it('counts a fragmented message as a whole: fragments under the limit, total over it', async () => {
      const client = await app.connect();
      const closed = closeOf(client, 3_000);
      const fragment = 'x'.repeat(400);
      client.socket.send(`{"event":"ping","data":{"ref":"${fragment}`, { fin: false });
      client.socket.send(fragment, { fin: false });
      client.socket.send(`${fragment}"}}`, { fin: true });
      expect((await closed).code).toBe(1009);
      expect(client.framesOf('error')).toHaveLength(0);
    });
  });

  describe('codes a client closes with', () => {
    let app: ProtectedApp;

    beforeAll(async () => {
      app = await ProtectedApp.start({ realtime: {} });
    });
    afterAll(() => app.stop());

    it('counts a private close code (3000–4999, the client’s choice) as other, a named one as itself', async () => {
      const codes = [4777, 3001, 4999, 1000, 4003];
      for (const code of codes) {
        const client = await app.connect();
        const closed = closeOf(client, 3_000);
        client.socket.close(code);
        await closed;
      }
      await app.waitForConnections(0);
      expect(app.stats().counters.closed).toEqual({ other: 3, 1000: 1, 4003: 1 });
    });
  });

  describe('4000: heartbeat timeout', () => {
    let app: ProtectedApp;

    beforeAll(async () => {
      // The pong timeout is a timer in the process that also runs the clients: a normal client's
      // pong waits in the socket while the process is busy. As long as a beat allows, and still
      // due before the next beat.
      app = await ProtectedApp.start({
        realtime: { heartbeat: { intervalMs: 300, pongTimeoutMs: 250 } },
      });
    });
    afterAll(() => app.stop());

    it('closes a client that does not answer protocol pings; a normal client stays', async () => {
      const silent = await app.connect({}, { autoPong: false });
      const normal = await app.connect();
      expect(silent.frames[0].data.heartbeatMs).toBe(300);
      let silentPings = 0;
      silent.socket.on('ping', () => silentPings++);
      const closed = await closeOf(silent, 5_000);
      expect(closed.code).toBe(4000);
      expect(closed.reason).toBe('heartbeat timeout');
      // Closed by the pong timeout of the first unanswered ping, before the next beat: counted,
      // not timed (the timeout is due before the next beat, so it runs first however late both are).
      expect(silentPings).toBe(1);

      let normalPings = 0;
      normal.socket.on('ping', () => normalPings++);
      await waitUntil(() => normalPings >= 2, 5_000, 'two more beats');
      expect(normal.isOpen).toBe(true);
      expect((await normal.request('ping')).event).toBe('pong');
      expect(app.stats().counters.closed).toMatchObject({ 4000: 1 });
    });
  });

  describe('4008 and RATE_LIMITED: inbound message rate', () => {
    let app: ProtectedApp;

    beforeAll(async () => {
      // A long window: the whole sequence below must fall inside one, even on a slow machine.
      app = await ProtectedApp.start({
        realtime: { limits: { messageRate: 5, messageWindowMs: 10_000 } },
      });
    });
    afterAll(() => app.stop());

    it('answers RATE_LIMITED over the rate and keeps the connection; closes with 4008 past twice the rate', async () => {
      const client = await app.connect();
      const neighbour = await app.connect();
      const closed = closeOf(client, 5_000);
      for (let i = 0; i < 10; i++) client.send('ping', { ref: `p${i}` });
      await client.waitForCount('error', 5);
      await client.waitForCount('pong', 5);
      const byRef = new Map(client.frames.slice(1).map((f) => [f.data.ref, f]));
      expect(byRef.size).toBe(10);
      for (let i = 0; i < 5; i++) expect(byRef.get(`p${i}`)?.event).toBe('pong');
      for (let i = 5; i < 10; i++) {
        expect(byRef.get(`p${i}`)).toEqual({
          event: 'error',
          data: { ref: `p${i}`, code: 'RATE_LIMITED', message: 'too many messages' },
        });
      }
      await sleep(100);
      expect(client.isOpen).toBe(true);

      client.send('ping', { ref: 'eleventh' });
      const close = await closed;
      expect(close.code).toBe(4008);
      expect(close.reason).toBe('rate limit exceeded');
      // The limit is per connection: the neighbour on the same address still talks.
      expect((await neighbour.request('ping')).event).toBe('pong');
    });

    it('counts garbage frames too', async () => {
      const client = await app.connect();
      for (let i = 0; i < 5; i++) client.sendRaw('not json');
      await client.waitForCount('error', 5);
      const limited = await client.request('ping');
      expect(limited.data).toMatchObject({ code: 'RATE_LIMITED', ref: expect.any(String) });
      expect(client.isOpen).toBe(true);
    });

    it('lets the connection talk again once the window has passed', async () => {
      const short = await ProtectedApp.start({
        realtime: { limits: { messageRate: 2, messageWindowMs: 800 } },
      });
      try {
        const client = await short.connect();
        // Sent together, so that all three land in the window the first one opens.
        const replies = await Promise.all([0, 1, 2].map(() => client.request('ping')));
        expect(replies.map((reply) => reply.event)).toEqual(['pong', 'pong', 'error']);
        expect(replies[2].data.code).toBe('RATE_LIMITED');
        await sleep(900);
        expect((await client.request('ping')).event).toBe('pong');
        expect(client.isOpen).toBe(true);
      } finally {
        await short.stop();
      }
    });
  });

  describe('4009: slow consumer', () => {
    let app: ProtectedApp;

    beforeAll(async () => {
      app = await ProtectedApp.start({
        realtime: {
          limits: { maxQueuedMessages: 16, maxQueuedBytes: 256 * 1024 },
          shutdown: { graceMs: 10_000 },
        },
      });
    });
    afterAll(() => app.stop());

    it('closes a consumer that stopped reading, while fast neighbours get every message', async () => {
      const slow = await app.connect({ subscribe: 'news:feed' });
      const fast = [
        await app.connect({ subscribe: 'news:feed' }),
        await app.connect({ subscribe: 'news:feed' }),
      ];
      await Promise.all([slow, ...fast].map((c) => c.waitFor((f) => f.event === 'subscribed')));
      const slowClosed = closeOf(slow, 20_000);
      tcpOf(slow).pause();

      const filler = 'x'.repeat(64 * 1024);
      let published = 0;
      const startedAt = Date.now();
      while (app.stats().counters.slowConsumers === 0) {
        if (published >= 3_000 || Date.now() - startedAt > 15_000) {
          throw new Error(`no slow consumer after ${published} messages`);
        }
        await app.broadcasts.publish('news:feed', 'tick', { n: published++, filler });
        await new Promise((resolve) => setImmediate(resolve));
      }
      for (let i = 0; i < 20; i++)
        await app.broadcasts.publish('news:feed', 'tick', { n: published++, filler });

      const stats = app.stats();
      expect(stats.counters.slowConsumers).toBe(1);
      for (const client of fast) {
        const messages = await client.waitForCount('message', published, 15_000);
        expect(messages.map((m) => m.data.payload.n)).toEqual(
          Array.from({ length: published }, (_, i) => i),
        );
        expect(client.isOpen).toBe(true);
      }

      tcpOf(slow).resume();
      const close = await slowClosed;
      expect(close.code).toBe(4009);
      expect(close.reason).toBe('slow consumer');
      const seen = slow.messages('news:feed').map((m) => m.payload.n);
      expect(seen.length).toBeLessThan(published);
      expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i));
      await app.waitForConnections(2);
      expect(app.stats().counters.closed).toMatchObject({ 4009: 1 });
      await within(Promise.all(fast.map((c) => c.request('ping'))), 3_000, 'fast pings');
    });
  });
});
