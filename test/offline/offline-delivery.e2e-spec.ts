import { Injectable } from '@nestjs/common';
import {
  BroadcastService,
  type DeadLetter,
  type DeadLetterHandler,
  OfflineInboxFullError,
  REALTIME_DEAD_LETTER_HANDLER,
  RealtimeJobs,
  type RealtimeModuleOptions,
} from '@nest-realtime/server';
import { barrier, expectNothingSince } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import type { TestClient } from '../support/ws-client';
import { enginesUnderTest } from './offline-engines';

/** The app's dead-letter hook as a test sees it: every call, and a number of failures to throw first. */
@Injectable()
class RecordingHandler implements DeadLetterHandler {
  readonly calls: Array<{ letter: DeadLetter; at: number }> = [];
  failuresLeft = 0;

  handle(letter: DeadLetter): void {
    this.calls.push({ letter, at: Date.now() });
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new Error('mail server down');
    }
  }
}

async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 8_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const OFFLINE: RealtimeModuleOptions['offline'] = {
  maxMessagesPerUser: 3,
  maxBytesPerUser: 4096,
  handlerAttempts: 3,
  handlerBackoffMs: 100,
};

describe.each(enginesUnderTest())('offline delivery ($name engine)', (engine) => {
  let app: LibraryApp;
  let realtime: BroadcastService;
  let handler: RecordingHandler;
  let users = 0;
  let keyPrefix = '';
  const nextUser = () => `user-${engine.name}-${++users}`;

  const start = async (): Promise<LibraryApp> => {
    const selected = await engine.options();
    keyPrefix = selected.redis?.keyPrefix ?? '';
    return LibraryApp.start({
      realtime: { ...selected, offline: OFFLINE },
      providers: [
        RecordingHandler,
        { provide: REALTIME_DEAD_LETTER_HANDLER, useExisting: RecordingHandler },
      ],
    });
  };

  beforeAll(async () => {
    app = await start();
    realtime = app.app.get(BroadcastService);
    handler = app.app.get(RecordingHandler);
  });

  afterAll(async () => {
    await app.stop();
    await engine.stop();
  });

  /** Messages of `$user` after `connected`, up to a barrier. */
  async function directMessages(client: TestClient): Promise<Array<Record<string, any>>> {
    await barrier(client);
    return client.messages('$user');
  }

  it('keeps a message for an offline user and sends it right after connected', async () => {
    const userId = nextUser();
    const id = await realtime.sendToUser(
      userId,
      'notification',
      { message: 'shipped' },
      { ttlSeconds: 60 },
    );
    expect(id).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
    const client = await app.connect(userId);
    await client.waitFor((f) => f.event === 'message');
    expect(client.frames[0].event).toBe('connected');
    expect(client.frames[1]).toEqual({
      event: 'message',
      data: {
        topic: '$user',
        type: 'notification',
        payload: { message: 'shipped' },
        ts: expect.any(Number),
        id,
      },
    });
  });

  it('sends the waiting messages to an anonymous connection once it signs in as their user', async () => {
    const userId = nextUser();
    const id = await realtime.sendToUser(userId, 'notification', { n: 1 }, { ttlSeconds: 60 });
    const client = await app.connect();
    expect(await directMessages(client)).toEqual([]);
    expect((await client.request('auth', { token: app.token(userId) })).event).toBe(
      'authenticated',
    );
    expect((await client.waitFor((f) => f.data?.id === id)).data).toMatchObject({
      topic: '$user',
      payload: { n: 1 },
    });
  });

  it('acked, is not sent again; the reply names the ids, idempotently, unknown ones included', async () => {
    const userId = nextUser();
    const id = await realtime.sendToUser(userId, 'notification', { n: 1 }, { ttlSeconds: 60 });
    const first = await app.connect(userId);
    await first.waitFor((f) => f.data?.id === id);
    const before = await realtime.offlineStats();
    const acked = await first.request('ack', { ids: [id, 'never-sent', id] });
    expect(acked).toEqual({
      event: 'acked',
      data: { ref: acked.data.ref, ids: [id, 'never-sent'] },
    });
    const again = await first.request('ack', { ids: [id] });
    expect(again.data.ids).toEqual([id]);
    const after = await realtime.offlineStats();
    expect(after.pending).toBe(before.pending - 1);
    expect(after.delivered).toBe(before.delivered + 1);
    await first.close();

    const second = await app.connect(userId);
    expect(await directMessages(second)).toEqual([]);
  });

  it('unacked, is sent again on each new connection with the same id, in send order', async () => {
    const userId = nextUser();
    const a = await realtime.sendToUser(userId, 't', { n: 1 }, { ttlSeconds: 60 });
    const b = await realtime.sendToUser(userId, 't', { n: 2 }, { ttlSeconds: 60 });
    for (let round = 0; round < 2; round++) {
      const client = await app.connect(userId);
      await client.waitForCount('message', 2);
      expect(client.messages('$user').map((m) => m.id)).toEqual([a, b]);
      await client.close();
    }
  });

  it('goes at once to every open connection of the user, and to none of anyone else', async () => {
    const userId = nextUser();
    const one = await app.connect(userId);
    const two = await app.connect(userId);
    const other = await app.connect(nextUser());
    const marks = [one, two, other].map((c) => c.frames.length);
    const id = await realtime.sendToUser(userId, 'live', { ok: true }, { ttlSeconds: 60 });
    for (const client of [one, two]) {
      const frame = await client.waitFor((f) => f.data?.id === id);
      expect(frame.data).toMatchObject({ topic: '$user', type: 'live', payload: { ok: true } });
    }
    await expectNothingSince(other, marks[2]);
    await one.request('ack', { ids: [id] });
    const three = await app.connect(userId);
    expect(await directMessages(three)).toEqual([]);
  });

  it('pushes and keeps the payload as it was at the call, whatever the caller changes after it', async () => {
    const userId = nextUser();
    const live = await app.connect(userId);
    const payload = { status: 'shipped', items: [1, 2] };
    const sent = realtime.sendToUser(userId, 'order', payload, { ttlSeconds: 60 });
    // The caller reuses its object before the send resolved (the store's write is still out).
    payload.status = 'changed';
    payload.items.push(3);
    const id = await sent;
    const frame = await live.waitFor((f) => f.data?.id === id);
    expect(frame.data.payload).toEqual({ status: 'shipped', items: [1, 2] });
    const later = await app.connect(userId);
    expect((await directMessages(later)).map((m) => m.payload)).toEqual([
      { status: 'shipped', items: [1, 2] },
    ]);
  });

  // No live push goes to a user online nowhere (the store tells, with the write): safe because a
  // connection is registered (memory) or its presence written (Redis) before its inbox is read.
  it('a user connecting while notifications stream in gets every one, from the inbox or live', async () => {
    const selected = await engine.options();
    const roomy = await LibraryApp.start({
      realtime: {
        ...selected,
        offline: { ...OFFLINE, maxMessagesPerUser: 10_000, maxBytesPerUser: 4 << 20 },
      },
    });
    try {
      const broadcaster = roomy.app.get(BroadcastService);
      for (let round = 0; round < 4; round++) {
        // A new user each round: the first connection of a user offline everywhere is the race.
        const userId = nextUser();
        const sent: Array<Promise<string>> = [];
        let streaming = true;
        const stream = (async () => {
          while (streaming) {
            for (let n = 0; n < 4; n++) {
              sent.push(
                broadcaster.sendToUser(userId, 's', { n: sent.length }, { ttlSeconds: 60 }),
              );
            }
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        const client = await roomy.connect(userId);
        await barrier(client);
        streaming = false;
        await stream;
        const ids = await Promise.all(sent);
        const received = () => new Set(client.messages('$user').map((m) => m.id as string));
        await eventually(() => ids.every((id) => received().has(id))).catch(() => undefined);
        expect(ids.filter((id) => !received().has(id))).toEqual([]);
        await client.close();
      }
    } finally {
      await roomy.stop();
    }
  });

  it('past its TTL is dead-lettered once: the hook fires, the counters move, it is not sent again', async () => {
    const userId = nextUser();
    const before = await realtime.offlineStats();
    const id = await realtime.sendToUser(
      userId,
      'notification',
      { message: 'late' },
      { ttlSeconds: 1 },
    );
    await eventually(() => handler.calls.some((call) => call.letter.id === id));
    const letter = handler.calls.find((call) => call.letter.id === id)!.letter;
    expect(letter).toMatchObject({
      id,
      userId,
      type: 'notification',
      payload: { message: 'late' },
      reason: 'expired',
    });
    expect(letter.deadAt).toBeGreaterThanOrEqual(letter.expiresAt);
    const after = await realtime.offlineStats();
    expect(after.deadLettered).toBe(before.deadLettered + 1);
    expect(after.pending).toBe(before.pending);
    expect((await realtime.deadLetters(10)).map((l) => l.id)).toContain(id);
    const client = await app.connect(userId);
    expect(await directMessages(client)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(handler.calls.filter((call) => call.letter.id === id)).toHaveLength(1);
  });

  it('an acknowledged message never reaches the dead letters', async () => {
    const userId = nextUser();
    const client = await app.connect(userId);
    const id = await realtime.sendToUser(userId, 't', {}, { ttlSeconds: 1 });
    await client.waitFor((f) => f.data?.id === id);
    await client.request('ack', { ids: [id] });
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    expect(handler.calls.some((call) => call.letter.id === id)).toBe(false);
    expect((await realtime.deadLetters(100)).some((l) => l.id === id)).toBe(false);
  });

  // Issue 18 item 5: in Redis mode each acked message kept a delayed Bull expiry job until its TTL.
  it('an acknowledged message leaves no job and no deadline behind', async () => {
    const userId = nextUser();
    const jobs = app.app.get(RealtimeJobs);
    const queued = jobs.enabled ? (await jobs.counts())['realtime-offline'] : undefined;
    const client = await app.connect(userId);
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) {
      ids.push(await realtime.sendToUser(userId, 't', { n }, { ttlSeconds: 7 * 24 * 3600 }));
    }
    await client.waitFor((f) => f.data?.id === ids[2]);
    const before = await realtime.offlineStats();
    await client.request('ack', { ids });
    expect((await realtime.offlineStats()).delivered).toBe(before.delivered + 3);
    if (engine.name === 'redis') {
      const redis = engine.redis!()!;
      // No job per message at all: the offline queue holds what it held before.
      expect((await jobs.counts())['realtime-offline']).toEqual(queued);
      for (const id of ids) {
        expect(
          await redis.command('ZSCORE', `${keyPrefix}offline:deadlines`, `${id}\n${userId}`),
        ).toBe('$-1');
      }
      expect(await redis.command('EXISTS', `${keyPrefix}offline:box:${userId}`)).toBe(':0');
      expect(await redis.command('EXISTS', `${keyPrefix}offline:state:${userId}`)).toBe(':0');
    }
    // Memory mode: the deadlines' bound is unit-tested (expiry-sweeper.spec.ts).
  });

  it('retries a throwing hook with exponential backoff until it succeeds', async () => {
    handler.failuresLeft = 2;
    const id = await realtime.sendToUser(nextUser(), 't', {}, { ttlSeconds: 1 });
    await eventually(() => handler.calls.filter((call) => call.letter.id === id).length === 3);
    const times = handler.calls.filter((call) => call.letter.id === id).map((call) => call.at);
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(90);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(190);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(handler.calls.filter((call) => call.letter.id === id)).toHaveLength(3);
  });

  it('a full inbox refuses the next message with OfflineInboxFullError, in count and in bytes', async () => {
    const userId = nextUser();
    for (let n = 0; n < 3; n++) await realtime.sendToUser(userId, 't', { n }, { ttlSeconds: 60 });
    await expect(realtime.sendToUser(userId, 't', { n: 4 }, { ttlSeconds: 60 })).rejects.toThrow(
      OfflineInboxFullError,
    );
    await expect(
      realtime.sendToUser(nextUser(), 't', { big: 'x'.repeat(5000) }, { ttlSeconds: 60 }),
    ).rejects.toThrow(/over 4096 bytes/);
    const client = await app.connect(userId);
    await client.waitForCount('message', 3);
    expect(client.messages('$user').map((m) => m.payload.n)).toEqual([0, 1, 2]);
  });

  it('refuses a bad ttl or user id, and a bad ack, with clear errors', async () => {
    await expect(realtime.sendToUser('u', 't', {}, { ttlSeconds: 0 })).rejects.toThrow(
      /ttlSeconds/,
    );
    await expect(realtime.sendToUser('u', 't', {}, { ttlSeconds: 10 ** 9 })).rejects.toThrow(
      /maxTtlSeconds/,
    );
    await expect(realtime.sendToUser('', 't', {}, { ttlSeconds: 5 })).rejects.toThrow(/userId/);
    const client = await app.connect(nextUser());
    for (const ids of [[], Array.from({ length: 101 }, (_, i) => `id${i}`), [7], 'abc']) {
      const reply = await client.request('ack', { ids });
      expect(reply.event).toBe('error');
      expect(reply.data.code).toBe('BAD_REQUEST');
    }
    expect(client.isOpen).toBe(true);
  });

  it('an anonymous connection may ack: it has no inbox, so nothing changes', async () => {
    const client = await app.connect();
    const reply = await client.request('ack', { ids: ['x'] });
    expect(reply.event).toBe('acked');
  });
});
