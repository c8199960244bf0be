import { BroadcastService } from '@nest-realtime/server';
import { DemoApp } from '../support/demo-app';
import { barrier, naturalCompare } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import type { Frame, TestClient } from '../support/ws-client';

const HISTORY_SIZE = 5;

/** Publishes `count` messages to a topic one after another; resolves to their offsets in order. */
async function publishMany(
  realtime: BroadcastService,
  topic: string,
  count: number,
  from = 1,
): Promise<string[]> {
  const offsets: string[] = [];
  for (let i = from; i < from + count; i++)
    offsets.push(await realtime.publish(topic, 'seq', { i }));
  return offsets;
}

/** The frames from `from` up to a barrier, as [event, offset] pairs, for exact sequence checks. */
async function sequenceSince(
  client: TestClient,
  from: number,
): Promise<Array<[string, string | undefined]>> {
  const end = await barrier(client);
  return client.frames
    .slice(from, end)
    .map((f: Frame) => [f.event, f.data.offset as string | undefined]);
}

/** PROTOCOL §3 and §5: offsets, history and recovery, per-topic order. */
describe('core: history, recovery and ordering', () => {
  let demo: DemoApp;
  let realtime: BroadcastService;
  let token: string;

  beforeAll(async () => {
    demo = await DemoApp.start({ REALTIME_HISTORY_SIZE: String(HISTORY_SIZE) });
    realtime = demo.app.get(BroadcastService);
    token = await demo.token('reader');
  });

  afterAll(() => demo.stop());

  const reader = () => demo.connect({ token });

  describe('subscribe with since', () => {
    it('recovers exactly the missed messages in order, then live ones: no gap, no duplicate', async () => {
      const topic = 'chat:recover';
      const first = await reader();
      await first.request('subscribe', { topics: [topic] });
      const seen = await publishMany(realtime, topic, 2);
      await first.waitForCount('message', 2);
      expect(first.messages(topic).map((m) => m.offset)).toEqual(seen);
      await first.close();

      const missed = await publishMany(realtime, topic, 3, 3);
      const second = await reader();
      const from = second.frames.length;
      const reply = await second.request('subscribe', {
        topics: [topic],
        since: { [topic]: seen[1] },
      });
      expect(reply).toEqual({
        event: 'subscribed',
        data: { ref: reply.data.ref, topics: [{ topic, offset: missed[2], recovered: true }] },
      });
      const live = await publishMany(realtime, topic, 2, 6);
      expect(await sequenceSince(second, from)).toEqual([
        ['subscribed', undefined],
        ...missed.map((o): [string, string] => ['message', o]),
        ...live.map((o): [string, string] => ['message', o]),
      ]);
      expect(second.messages(topic).map((m) => m.payload)).toEqual(
        [3, 4, 5, 6, 7].map((i) => ({ i })),
      );
    });

    it('answers recovered:true and replays nothing when nothing was missed', async () => {
      const topic = 'chat:uptodate';
      const [, head] = await publishMany(realtime, topic, 2);
      const client = await reader();
      const from = client.frames.length;
      const reply = await client.request('subscribe', {
        topics: [topic],
        since: { [topic]: head },
      });
      expect(reply.data.topics).toEqual([{ topic, offset: head, recovered: true }]);
      expect(await sequenceSince(client, from)).toEqual([['subscribed', undefined]]);
    });

    it('recovers several topics in one request, each in its own order', async () => {
      const a = await publishMany(realtime, 'chat:multi-a', 3);
      const b = await publishMany(realtime, 'chat:multi-b', 3);
      const client = await reader();
      const reply = await client.request('subscribe', {
        topics: ['chat:multi-a', 'chat:multi-b'],
        since: { 'chat:multi-a': a[0], 'chat:multi-b': b[1] },
      });
      expect(reply.data.topics).toEqual([
        { topic: 'chat:multi-a', offset: a[2], recovered: true },
        { topic: 'chat:multi-b', offset: b[2], recovered: true },
      ]);
      await barrier(client);
      expect(client.messages('chat:multi-a').map((m) => m.offset)).toEqual(a.slice(1));
      expect(client.messages('chat:multi-b').map((m) => m.offset)).toEqual(b.slice(2));
      expect(client.frames.indexOf(reply)).toBeLessThan(
        client.frames.findIndex((f) => f.event === 'message'),
      );
    });

    it('omits recovered for topics without a since entry', async () => {
      await publishMany(realtime, 'chat:mixed-b', 1);
      const [head] = await publishMany(realtime, 'chat:mixed-a', 1);
      const client = await reader();
      const reply = await client.request('subscribe', {
        topics: ['chat:mixed-a', 'chat:mixed-b'],
        since: { 'chat:mixed-a': head },
      });
      expect(reply.data.topics).toEqual([
        { topic: 'chat:mixed-a', offset: head, recovered: true },
        { topic: 'chat:mixed-b', offset: expect.any(String) },
      ]);
    });

    it.each(['garbage', '', '0', '-1', '1-2-3', 'x'.repeat(64)])(
      'answers recovered:false (not an error) for the unknown offset %j',
      async (since) => {
        const topic = 'chat:unknown-offset';
        const [head] = await publishMany(realtime, topic, 1);
        const client = await reader();
        const from = client.frames.length;
        const reply = await client.request('subscribe', {
          topics: [topic],
          since: { [topic]: since },
        });
        expect(reply).toEqual({
          event: 'subscribed',
          data: { ref: reply.data.ref, topics: [{ topic, offset: head, recovered: false }] },
        });
        expect(await sequenceSince(client, from)).toEqual([['subscribed', undefined]]);
        const [live] = await publishMany(realtime, topic, 1);
        expect((await client.waitFor((f) => f.event === 'message')).data.offset).toBe(live);
      },
    );

    it('never replays a topic already held: a repeated subscribe with since sends no duplicate', async () => {
      const topic = 'chat:held';
      const client = await reader();
      await client.request('subscribe', { topics: [topic] });
      const offsets = await publishMany(realtime, topic, 3);
      await client.waitForCount('message', 3);
      const from = client.frames.length;
      const reply = await client.request('subscribe', {
        topics: [topic],
        since: { [topic]: offsets[0] },
      });
      expect(reply.event).toBe('subscribed');
      expect(await sequenceSince(client, from)).toEqual([['subscribed', undefined]]);
      expect(client.messages(topic).map((m) => m.offset)).toEqual(offsets);
    });
  });

  describe('offsets', () => {
    it('sort in natural order, in arrival order, across digit-count boundaries', async () => {
      const topic = 'chat:natural';
      const client = await reader();
      await client.request('subscribe', { topics: [topic] });
      const offsets = await publishMany(realtime, topic, 120);
      await client.waitForCount('message', 120);
      const received = client.messages(topic).map((m) => m.offset as string);
      expect(received).toEqual(offsets);
      expect(new Set(received).size).toBe(received.length);
      expect([...received].sort(naturalCompare)).toEqual(received);
      for (let i = 1; i < received.length; i++) {
        expect(naturalCompare(received[i - 1], received[i])).toBeLessThan(0);
      }
    });

    it('are strings that subscribed reports as the head of the topic', async () => {
      const topic = 'chat:head';
      const offsets = await publishMany(realtime, topic, 3);
      for (const offset of offsets) expect(typeof offset).toBe('string');
      const client = await reader();
      const reply = await client.request('subscribe', { topics: [topic] });
      expect(reply.data.topics).toEqual([{ topic, offset: offsets[2] }]);
    });
  });

  describe('history bound (REALTIME_HISTORY_SIZE=5)', () => {
    it('answers recovered:false when the offset is older than the history keeps', async () => {
      const topic = 'chat:bounded';
      const offsets = await publishMany(realtime, topic, 10);
      const client = await reader();
      const from = client.frames.length;
      const reply = await client.request('subscribe', {
        topics: [topic],
        since: { [topic]: offsets[3] },
      });
      expect(reply.data.topics).toEqual([{ topic, offset: offsets[9], recovered: false }]);
      expect(await sequenceSince(client, from)).toEqual([['subscribed', undefined]]);
    });

    it('recovers when exactly the retained messages were missed', async () => {
      const topic = 'chat:bounded-edge';
      const offsets = await publishMany(realtime, topic, 10);
      const client = await reader();
      const from = client.frames.length;
      const reply = await client.request('subscribe', {
        topics: [topic],
        since: { [topic]: offsets[4] },
      });
      expect(reply.data.topics).toEqual([{ topic, offset: offsets[9], recovered: true }]);
      expect(await sequenceSince(client, from)).toEqual([
        ['subscribed', undefined],
        ...offsets.slice(5).map((o): [string, string] => ['message', o]),
      ]);
    });
  });

  describe('per-topic ordering', () => {
    it('delivers concurrent server publishes in offset order to every subscriber', async () => {
      const topic = 'chat:burst';
      const a = await reader();
      const b = await reader();
      await a.request('subscribe', { topics: [topic] });
      await b.request('subscribe', { topics: [topic] });
      const offsets = await Promise.all(
        Array.from({ length: 300 }, (_, i) => realtime.publish(topic, 'burst', { i })),
      );
      expect(new Set(offsets).size).toBe(300);
      const expected = [...offsets].sort(naturalCompare);
      for (const client of [a, b]) {
        await client.waitForCount('message', 300);
        expect(client.messages(topic).map((m) => m.offset)).toEqual(expected);
      }
    });

    it('delivers interleaved client publishes from several connections in offset order', async () => {
      const topic = 'chat:interleaved';
      const listener = await reader();
      await listener.request('subscribe', { topics: [topic] });
      const authors = await Promise.all(
        ['w1', 'w2', 'w3'].map(async (u) => demo.connect({ token: await demo.token(u) })),
      );
      const replies = await Promise.all(
        authors.flatMap((author, n) =>
          Array.from({ length: 20 }, (_, i) =>
            author.request('publish', { topic, type: 'm', payload: { n, i } }),
          ),
        ),
      );
      const offsets = replies.map((r) => r.data.offset as string);
      expect(replies.every((r) => r.event === 'published')).toBe(true);
      await listener.waitForCount('message', 60);
      const received = listener.messages(topic);
      expect(received.map((m) => m.offset)).toEqual([...offsets].sort(naturalCompare));
      for (let n = 0; n < 3; n++) {
        // Each author's own messages keep the order it sent them in.
        expect(received.filter((m) => m.payload.n === n).map((m) => m.payload.i)).toEqual(
          Array.from({ length: 20 }, (_, i) => i),
        );
      }
    });
  });
});

describe('core: offsets from another epoch are not recovered', () => {
  it('after a restart: the new process answers recovered:false for an offset of the old one', async () => {
    const topic = 'chat:restart';
    const before = await DemoApp.start();
    const oldOffsets = await publishMany(before.app.get(BroadcastService), topic, 3);
    await before.stop();

    const after = await DemoApp.start();
    try {
      const newOffsets = await publishMany(after.app.get(BroadcastService), topic, 3);
      expect(newOffsets).not.toEqual(oldOffsets);
      const client = await after.connect({ token: await after.token('reader') });
      const from = client.frames.length;
      const reply = await client.request('subscribe', {
        topics: [topic],
        since: { [topic]: oldOffsets[0] },
      });
      expect(reply.data.topics).toEqual([{ topic, offset: newOffsets[2], recovered: false }]);
      await barrier(client);
      expect(client.frames.slice(from).filter((f) => f.event === 'message')).toEqual([]);
    } finally {
      await after.stop();
    }
  });

  it('after the history of a topic is evicted in a running process', async () => {
    const lib = await LibraryApp.start({
      realtime: { topics: { feed: { subscribe: 'public' } }, history: { maxTopics: 1 } },
    });
    try {
      const realtime = lib.app.get(BroadcastService);
      const [lost] = await publishMany(realtime, 'feed:a', 1);
      await publishMany(realtime, 'feed:b', 1); // evicts feed:a's history (maxTopics: 1)
      const fresh = await publishMany(realtime, 'feed:a', 2);
      const client = await lib.connect();
      const from = client.frames.length;
      const reply = await client.request('subscribe', {
        topics: ['feed:a'],
        since: { 'feed:a': lost },
      });
      expect(reply.data.topics).toEqual([{ topic: 'feed:a', offset: fresh[1], recovered: false }]);
      await barrier(client);
      expect(client.frames.slice(from).filter((f) => f.event === 'message')).toEqual([]);
    } finally {
      await lib.stop();
    }
  });
});

describe('core: recovery while messages keep coming', () => {
  let lib: LibraryApp;
  let realtime: BroadcastService;

  beforeAll(async () => {
    lib = await LibraryApp.start({
      realtime: { topics: { feed: { subscribe: 'public' } }, history: { size: 1_000 } },
    });
    realtime = lib.app.get(BroadcastService);
  });

  afterAll(() => lib.stop());

  it('has no gap and no duplicate when messages are published while the subscribe is in flight', async () => {
    const topic = 'feed:race';
    const client = await lib.connect();
    const published: string[] = [];
    let stopAt = Infinity;
    const publisher = (async () => {
      for (let i = 0; i < 2_000 && published.length < stopAt; i++) {
        published.push(await realtime.publish(topic, 'seq', { i }));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    })();
    while (published.length < 20) await new Promise<void>((resolve) => setImmediate(resolve));

    // `since` is the last offset this client saw; more are published while the request travels.
    const seenBefore = published.length;
    const since = published[seenBefore - 1];
    const reply = await client.request('subscribe', { topics: [topic], since: { [topic]: since } });
    stopAt = published.length + 20; // and some more once subscribed
    await publisher;
    expect(reply.data.topics[0]).toEqual({ topic, offset: expect.any(String), recovered: true });
    await barrier(client);
    const subscribedAt = client.frames.indexOf(reply);
    expect(client.frames.findIndex((f) => f.event === 'message')).toBeGreaterThan(subscribedAt);
    expect(client.messages(topic).map((m) => m.offset)).toEqual(published.slice(seenBefore));
  });
});
