import { PresenceService, type RealtimeModuleOptions } from '@nest-realtime/server';
import { PresenceTracker } from '../../libs/realtime/src/presence/presence.tracker';
import { enginesUnderTest } from '../offline/offline-engines';
import { barrier, errorFrame } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import type { Frame, TestClient } from '../support/ws-client';
import { sleep } from '../support/waits';

/** Diffs are flushed by the test (tracker.diff()), never by the interval: what arrives is what the code decides. */
const presenceOptions: RealtimeModuleOptions = {
  topics: {
    chat: { subscribe: 'authenticated', presence: { joinLeave: true } },
    orders: { subscribe: 'authenticated', presence: {} },
    news: { subscribe: 'public' },
  },
  presence: { diffIntervalMs: 3_600_000, maxDiffUsers: 2_000, ttlSeconds: 30 },
  limits: { maxConnections: 5_000, maxConnectionsPerIp: 5_000 },
};

/** Polls an async condition, bounded. */
async function waitUntil(condition: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition did not hold within ${ms} ms`);
    await sleep(10);
  }
}

describe.each(enginesUnderTest())('presence on the $name engine', (engine) => {
  const apps: LibraryApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
  });
  afterAll(() => engine.stop());

  /** Two instances on one Redis; in memory mode one process, asked twice. */
  async function instances(): Promise<[LibraryApp, LibraryApp]> {
    const realtime = { ...presenceOptions, ...(await engine.options()) };
    const a = await LibraryApp.start({ realtime });
    apps.push(a);
    if (engine.name === 'memory') return [a, a];
    const b = await LibraryApp.start({ realtime });
    apps.push(b);
    return [a, b];
  }

  const flushDiffs = (app: LibraryApp) => app.app.get(PresenceTracker).diff();
  /** A new watcher's first diff comes in the second round after it subscribed: two rounds settle it. */
  const settleWatcher = async (app: LibraryApp) => {
    await flushDiffs(app);
    await flushDiffs(app);
  };
  const countOf = (app: LibraryApp, topic: string) => app.app.get(PresenceService).count(topic);
  const diffsSince = (client: TestClient, from: number): Frame[] =>
    client.frames.slice(from).filter((frame) => frame.event === 'presence_diff');

  it('1,200 users on two instances: counts, each user once in the pages, and diffs whose union is exactly them', async () => {
    const [a, b] = await instances();
    const watcher = await a.connect('watcher');
    const subscribed = await watcher.request('subscribe', { topics: ['chat:big'], presence: true });
    expect(subscribed.event).toBe('subscribed');
    await flushDiffs(a);
    const from = await barrier(watcher);

    const users = Array.from({ length: 1_200 }, (_, i) => `user${i}`);
    for (let i = 0; i < users.length; i += 100) {
      await Promise.all(
        users
          .slice(i, i + 100)
          .map((user, j) =>
            (j % 2 === 0 ? a : b).tryConnect({ token: a.token(user), subscribe: 'chat:big' }),
          ),
      );
    }
    await waitUntil(async () => (await countOf(b, 'chat:big')).users === 1_201, 10_000);
    expect(await countOf(a, 'chat:big')).toEqual({ connections: 1_201, users: 1_201 });

    await flushDiffs(a);
    await flushDiffs(a);
    await barrier(watcher);
    const diffs = diffsSince(watcher, from);
    // One frame per flush at most, whatever the burst.
    expect(diffs.length).toBeGreaterThanOrEqual(1);
    expect(diffs.length).toBeLessThanOrEqual(2);
    const joined = diffs.flatMap((frame) => frame.data.joined as string[]);
    expect(joined.sort()).toEqual([...users].sort());
    expect(diffs.flatMap((frame) => frame.data.left as string[])).toEqual([]);
    expect(diffs[diffs.length - 1].data).toMatchObject({
      topic: 'chat:big',
      connections: 1_201,
      users: 1_201,
    });

    const seen: string[] = [];
    let cursor: string | null | undefined;
    for (let page = 0; page < 20 && cursor !== null; page++) {
      const reply = await watcher.request('presence', {
        topic: 'chat:big',
        limit: 100,
        ...(cursor ? { cursor } : {}),
      });
      expect(reply.event).toBe('presence');
      expect(reply.data).toMatchObject({ topic: 'chat:big', connections: 1_201, users: 1_201 });
      seen.push(...(reply.data.members as Array<{ userId: string }>).map((m) => m.userId));
      cursor = reply.data.cursor as string | null;
    }
    expect(cursor).toBeNull();
    expect(seen.sort()).toEqual([...users, 'watcher'].sort());
  });

  it('a user who leaves and comes back within one interval is in no diff; a second connection is no join', async () => {
    const [a, b] = await instances();
    const watcher = await a.connect('watcher');
    await watcher.request('subscribe', { topics: ['chat:room'], presence: true });
    const ann = await b.connect('ann');
    await ann.request('subscribe', { topics: ['chat:room'] });
    await waitUntil(async () => (await countOf(a, 'chat:room')).users === 2);
    await settleWatcher(a);
    const from = await barrier(watcher);

    await ann.close();
    const back = await a.connect('ann');
    await back.request('subscribe', { topics: ['chat:room'] });
    const second = await b.connect('ann');
    await second.request('subscribe', { topics: ['chat:room'] });
    const bob = await b.connect('bob');
    await bob.request('subscribe', { topics: ['chat:room'] });
    await waitUntil(async () => (await countOf(a, 'chat:room')).connections === 4);
    await flushDiffs(a);
    await barrier(watcher);
    expect(diffsSince(watcher, from).map((frame) => frame.data)).toEqual([
      { topic: 'chat:room', joined: ['bob'], left: [], connections: 4, users: 3 },
    ]);

    const next = await barrier(watcher);
    await bob.close();
    await waitUntil(async () => (await countOf(a, 'chat:room')).users === 2);
    await flushDiffs(a);
    await barrier(watcher);
    expect(diffsSince(watcher, next).map((frame) => frame.data)).toEqual([
      { topic: 'chat:room', joined: [], left: ['bob'], connections: 3, users: 2 },
    ]);
  });

  it("a new watcher's first diff comes a round later and covers both rounds: nothing missed, one frame", async () => {
    const [a, b] = await instances();
    const old = await a.connect('old');
    await old.request('subscribe', { topics: ['chat:late'], presence: true });
    await settleWatcher(a);
    const oldFrom = await barrier(old);
    const watcher = await a.connect('watcher');
    await watcher.request('subscribe', { topics: ['chat:late'], presence: true });
    const from = await barrier(watcher);
    const join = async (user: string, users: number) => {
      const client = await b.connect(user);
      await client.request('subscribe', { topics: ['chat:late'] });
      await waitUntil(async () => (await countOf(a, 'chat:late')).users === users);
    };

    await join('bob', 3);
    await flushDiffs(a);
    await barrier(watcher);
    expect(diffsSince(watcher, from)).toEqual([]);
    await join('cid', 4);
    await flushDiffs(a);
    await barrier(watcher);
    await barrier(old);

    const joinedBy = (frames: Frame[]) =>
      frames.map((frame) => ({
        ...frame.data,
        joined: [...(frame.data.joined as string[])].sort(),
      }));
    expect(joinedBy(diffsSince(watcher, from))).toEqual([
      { topic: 'chat:late', joined: ['bob', 'cid', 'watcher'], left: [], connections: 4, users: 4 },
    ]);
    expect(joinedBy(diffsSince(old, oldFrom))).toEqual([
      { topic: 'chat:late', joined: ['bob', 'watcher'], left: [], connections: 3, users: 3 },
      { topic: 'chat:late', joined: ['cid'], left: [], connections: 4, users: 4 },
    ]);
  });

  it('a round for more watchers than it writes in one turn, over several topics: every watcher gets its one frame', async () => {
    const [a, b] = await instances();
    // 600 watchers over three topics: each topic's are fewer than the 256 writes of one turn, all
    // together over two of them, so the round lets the loop run twice, amid every topic's writes.
    const topics = ['chat:crowd0', 'chat:crowd1', 'chat:crowd2'];
    const topicOf = (i: number) => topics[i % topics.length];
    const watchers: TestClient[] = [];
    for (let i = 0; i < 600; i += 100) {
      watchers.push(
        ...(await Promise.all(Array.from({ length: 100 }, (_, j) => a.connect(`watcher${i + j}`)))),
      );
    }
    await Promise.all(
      watchers.map((watcher, i) =>
        watcher.request('subscribe', { topics: [topicOf(i)], presence: true }),
      ),
    );
    // Their own joins in the store first (the subscribe does not wait for the store), or a round
    // would name them.
    for (const topic of topics) {
      await waitUntil(async () => (await countOf(a, topic)).users === 200);
    }
    await settleWatcher(a);
    const from = await Promise.all(watchers.map((watcher) => barrier(watcher)));

    const ann = await b.connect('ann');
    await ann.request('subscribe', { topics });
    for (const topic of topics) {
      await waitUntil(async () => (await countOf(a, topic)).users === 201);
    }
    await flushDiffs(a);
    await Promise.all(watchers.map((watcher) => barrier(watcher)));
    watchers.forEach((watcher, i) => {
      expect(diffsSince(watcher, from[i]).map((frame) => frame.data)).toEqual([
        { topic: topicOf(i), joined: ['ann'], left: [], connections: 201, users: 201 },
      ]);
    });
  });

  it('past the threshold a diff carries the counts only; orders keeps presence without diffs', async () => {
    const realtime = {
      ...presenceOptions,
      presence: { ...presenceOptions.presence, maxDiffUsers: 1 },
      ...(await engine.options()),
    };
    const app = await LibraryApp.start({ realtime });
    apps.push(app);
    const watcher = await app.connect('watcher');
    await watcher.request('subscribe', { topics: ['chat:x', 'orders'], presence: true });
    await settleWatcher(app);
    const from = await barrier(watcher);
    const ann = await app.connect('ann');
    await ann.request('subscribe', { topics: ['chat:x', 'orders'] });
    await waitUntil(async () => (await countOf(app, 'chat:x')).users === 2);
    await flushDiffs(app);
    await barrier(watcher);
    expect(diffsSince(watcher, from).map((frame) => frame.data)).toEqual([
      { topic: 'chat:x', joined: [], left: [], connections: 2, users: 2 },
    ]);
    const orders = await watcher.request('presence', { topic: 'orders', limit: 0 });
    expect(orders.data).toEqual({
      ref: orders.data.ref,
      topic: 'orders',
      connections: 2,
      users: 2,
      members: [],
      cursor: null,
    });
  });

  it('answers FORBIDDEN_TOPIC, INVALID_TOPIC and BAD_REQUEST where §5 and §2 say', async () => {
    const [a] = await instances();
    const client = await a.connect('ann');
    await client.request('subscribe', { topics: ['news', 'chat:1'] });
    const refused = async (data: Record<string, unknown>, code: string, topic?: string) => {
      const reply = await client.request('presence', data);
      expect(reply).toEqual(
        errorFrame(code, { ref: reply.data.ref as string, ...(topic ? { topic } : {}) }),
      );
    };
    await refused({ topic: 'chat:2' }, 'FORBIDDEN_TOPIC', 'chat:2');
    await refused({ topic: 'news' }, 'FORBIDDEN_TOPIC', 'news');
    await refused({ topic: 'Bad Topic' }, 'INVALID_TOPIC', 'Bad Topic');
    await refused({ topic: 'chat:1', limit: 1001 }, 'BAD_REQUEST');
    await refused({ topic: 'chat:1', limit: -1 }, 'BAD_REQUEST');
    await refused({ topic: 'chat:1', cursor: 'nope!' }, 'BAD_REQUEST');
    await refused({ topic: 'chat:1', extra: 1 }, 'BAD_REQUEST');
    const ok = await client.request('presence', { topic: 'chat:1' });
    expect(ok.data).toMatchObject({
      topic: 'chat:1',
      connections: 1,
      users: 1,
      members: [{ userId: 'ann', connections: 1 }],
      cursor: null,
    });
    expect(client.isOpen).toBe(true);
  });

  it('knows who is online across instances', async () => {
    const [a, b] = await instances();
    const presence = a.app.get(PresenceService);
    const before = await presence.onlineUsers();
    const ann = await b.connect('ann');
    await waitUntil(() => presence.isOnline('ann'));
    expect(await presence.onlineUsers()).toBe(before + 1);
    await ann.close();
    await waitUntil(async () => !(await presence.isOnline('ann')));
  });
});
