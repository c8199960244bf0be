import { Injectable } from '@nestjs/common';
import type { TopicAuthorizer } from '@nest-realtime/server';
import { expAtLeast } from '../support/jwt';
import { ProtectedApp } from '../support/protected-app';
import { closeOf, sleep } from '../support/waits';

const PINGS = 2_000;
const RATE = 20;

@Injectable()
class SlowAuthorizer implements TopicAuthorizer {
  async authorize(): Promise<boolean> {
    await sleep(150);
    return true;
  }
}

/**
 * Every frame the server decided to send goes out before its close frame, and
 * a connection's replies come back in the order of its requests.
 */
describe('one outbound path: replies in request order, then the close', () => {
  let app: ProtectedApp;

  beforeAll(async () => {
    app = await ProtectedApp.start({
      realtime: {
        limits: { messageRate: RATE, messageWindowMs: 60_000 },
        topics: {
          news: { subscribe: 'public' },
          slow: { subscribe: { authorizer: SlowAuthorizer } },
        },
      },
      providers: [SlowAuthorizer],
    });
  });
  afterAll(() => app.stop());

  it(`answers ${PINGS} pings sent at once with the owed pongs, then RATE_LIMITED, then 4008`, async () => {
    const client = await app.connect();
    const closed = closeOf(client, 10_000);
    for (let i = 0; i < PINGS; i++) client.send('ping', { ref: `p${i}` });
    const close = await closed;

    expect(close.code).toBe(4008);
    const replies = client.frames.slice(1);
    expect(replies.map((f) => f.data.ref)).toEqual(
      Array.from({ length: 2 * RATE }, (_, i) => `p${i}`),
    );
    expect(replies.slice(0, RATE).every((f) => f.event === 'pong')).toBe(true);
    for (const frame of replies.slice(RATE)) {
      expect(frame).toEqual({
        event: 'error',
        data: { ref: frame.data.ref, code: 'RATE_LIMITED', message: 'too many messages' },
      });
    }
  });

  it('keeps request order when an earlier request waits (an authorizer) and a later one does not', async () => {
    const client = await app.connectAs('ada');
    client.send('subscribe', { topics: ['slow:a'], ref: 's1' });
    client.send('ping', { ref: 'p1' });
    client.send('subscribe', { topics: ['news'], ref: 's2' });
    client.send('ping', { ref: 'p2' });
    await client.waitFor((f) => f.data?.ref === 'p2');
    expect(client.frames.slice(1).map((f) => `${f.event}:${f.data.ref}`)).toEqual([
      'subscribed:s1',
      'pong:p1',
      'subscribed:s2',
      'pong:p2',
    ]);
  });

  it('answers every request received before a token expiry, in order, before closing with 4001', async () => {
    // Time for the handshake and the first pings before the expiry, however late in a second it starts.
    const client = await app.connectAs('ada', { exp: expAtLeast(500) });
    const closed = closeOf(client, 5_000);
    const expiresAt = client.frames[0].data.expiresAt as number;
    let sent = 0;
    // Pings across the expiry, fewer than the rate limit allows whatever the timers do: those
    // the server got before deciding to close are all answered.
    await sleep(Math.max(0, expiresAt - 200 - Date.now()));
    while (client.isOpen && sent < RATE && Date.now() < expiresAt + 150) {
      client.send('ping', { ref: `e${sent++}` });
      await sleep(25);
    }
    const close = await closed;

    expect(close.code).toBe(4001);
    const replies = client.frames.slice(1);
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.map((f) => f.data.ref)).toEqual(replies.map((_, i) => `e${i}`));
    const firstRefused = replies.findIndex((f) => f.event === 'error');
    const refused = firstRefused === -1 ? [] : replies.slice(firstRefused);
    expect(replies.slice(0, replies.length - refused.length).every((f) => f.event === 'pong')).toBe(
      true,
    );
    for (const frame of refused) {
      expect(frame.data).toMatchObject({ code: 'UNAUTHORIZED', message: 'token expired' });
    }
  });

  it('refuses a frame without data as BAD_REQUEST (every frame is {event, data: object})', async () => {
    const client = await app.connect();
    client.sendRaw('{"event":"ping"}');
    const reply = await client.waitFor((f) => f.event === 'error' || f.event === 'pong');
    expect(reply).toEqual({
      event: 'error',
      data: { code: 'BAD_REQUEST', message: 'data must be an object' },
    });
    expect((await client.request('ping')).event).toBe('pong');
  });
});
