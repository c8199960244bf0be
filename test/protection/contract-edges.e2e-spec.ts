import { BroadcastService, type RealtimeModuleOptions } from '@nest-realtime/server';
import { barrier, errorFrame, expectNothingSince } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import { TestRedis } from '../support/redis-server';
import type { ConnectResult, TestClient } from '../support/ws-client';

const ALLOWED_ORIGIN = 'https://app.example.com';
const OPTIONS: RealtimeModuleOptions = {
  allowedOrigins: [ALLOWED_ORIGIN],
  topics: {
    news: { subscribe: 'public' },
    chat: { subscribe: 'authenticated', publish: 'authenticated', presence: { joinLeave: true } },
  },
};

type Refusal = Extract<ConnectResult, { kind: 'refused' }>;

async function refusal(attempt: Promise<ConnectResult>): Promise<Refusal> {
  const result = await attempt;
  if (result.kind !== 'refused') {
    throw new Error(
      `expected a refusal, got ${result.kind === 'open' ? 'an upgrade' : 'an error'}`,
    );
  }
  return result;
}

async function accepted(attempt: Promise<ConnectResult>): Promise<TestClient> {
  const result = await attempt;
  if (result.kind !== 'open') {
    throw new Error(
      `expected an upgrade, got ${result.kind === 'refused' ? `${result.status} ${result.body}` : result.error.message}`,
    );
  }
  await result.client.waitFor((f) => f.event === 'connected');
  return result.client;
}

/**
 * Edges of the wire contract where a limit of the server's own once gave
 * BAD_REQUEST (or nothing) and PROTOCOL.md prescribes another answer: a
 * `since` that is no known offset (§2), topic names outside the grammar
 * (§4), ack ids that name no message (§2), `Sec-WebSocket-Origin` (§1), and
 * `?subscribe=` (§1).
 */
describe.each([
  ['memory', () => Promise.resolve<RealtimeModuleOptions>({ engine: { type: 'memory' } })],
  [
    'redis',
    async (redis: { current?: TestRedis }): Promise<RealtimeModuleOptions> => {
      redis.current = await TestRedis.start();
      return { engine: { type: 'redis' }, redis: { url: redis.current.url } };
    },
  ],
] as const)('contract edges (%s engine)', (_name, engineOptions) => {
  const redis: { current?: TestRedis } = {};
  let app: LibraryApp;
  let realtime: BroadcastService;

  beforeAll(async () => {
    app = await LibraryApp.start({ realtime: { ...OPTIONS, ...(await engineOptions(redis)) } });
    realtime = app.app.get(BroadcastService, { strict: false });
  });
  afterAll(async () => {
    await app?.stop();
    await redis.current?.stop();
  });

  it('answers recovered:false for a since entry too long to be an offset, and ignores a long since key', async () => {
    const topic = 'news:long-since';
    await realtime.publish(topic, 't', { n: 1 });
    const head = await realtime.publish(topic, 't', { n: 2 });
    const client = await app.connect();
    for (const since of ['x'.repeat(65), `${head}${'0'.repeat(100)}`, '9'.repeat(20_000)]) {
      const reply = await client.request('subscribe', {
        topics: [topic, 'news:other'],
        since: { [topic]: since, ['k'.repeat(500)]: head },
      });
      expect(reply).toEqual({
        event: 'subscribed',
        data: {
          ref: reply.data.ref,
          topics: [
            { topic, offset: head, recovered: false },
            { topic: 'news:other', offset: expect.any(String) },
          ],
        },
      });
      await expectNothingSince(client, client.frames.indexOf(reply) + 1);
      await client.request('unsubscribe', { topics: [topic, 'news:other'] });
    }
    // The same request with the real offset still recovers: the long entries were simply unknown.
    const recovered = await client.request('subscribe', {
      topics: [topic],
      since: { [topic]: head },
    });
    expect(recovered.data.topics).toEqual([{ topic, offset: head, recovered: true }]);
  });

  it('ignores ack ids that cannot name a message, whatever their length, and echoes them', async () => {
    const id = await realtime.sendToUser('ida', 'notification', { n: 1 }, { ttlSeconds: 60 });
    const client = await app.connect('ida');
    await client.waitFor((f) => f.data?.id === id);
    const ids = [id, 'x'.repeat(65), '', 'y'.repeat(5_000), id];
    const reply = await client.request('ack', { ids });
    expect(reply).toEqual({
      event: 'acked',
      data: { ref: reply.data.ref, ids: [id, 'x'.repeat(65), '', 'y'.repeat(5_000)] },
    });
    await client.close();
    const again = await app.connect('ida');
    await barrier(again);
    expect(again.messages('$user')).toEqual([]);
    for (const bad of [[], [7], ['a', null], Array.from({ length: 101 }, (_, i) => `id${i}`)]) {
      const refused = await again.request('ack', { ids: bad });
      expect(refused).toEqual(errorFrame('BAD_REQUEST', { ref: refused.data.ref as string }));
    }
  });
});

describe('contract edges of topic names and the handshake', () => {
  let app: LibraryApp;

  beforeAll(async () => {
    app = await LibraryApp.start({
      realtime: { ...OPTIONS, limits: { maxSubscriptions: 1_000 } },
    });
  });
  afterAll(() => app.stop());

  it('answers INVALID_TOPIC, naming it, for any string topic outside the grammar in publish and presence', async () => {
    const client = await app.connect('pat');
    await client.request('subscribe', { topics: ['chat:room'] });
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['publish', { topic: 'a'.repeat(200), type: 't', payload: 1 }, 'a'.repeat(200)],
      [
        'publish',
        { topic: `chat:${'k'.repeat(101)}`, type: 't', payload: 1 },
        `chat:${'k'.repeat(101)}`,
      ],
      ['publish', { topic: '', type: 't', payload: 1 }, ''],
      ['presence', { topic: '' }, ''],
      ['presence', { topic: 'a'.repeat(200) }, 'a'.repeat(200)],
      ['presence', { topic: 'Bad Topic' }, 'Bad Topic'],
    ];
    for (const [event, data, topic] of cases) {
      const reply = await client.request(event, data);
      expect({ event, reply }).toEqual({
        event,
        reply: errorFrame('INVALID_TOPIC', { ref: reply.data.ref as string, topic }),
      });
    }
    // A topic that is not a string is the wrong type: BAD_REQUEST, as before.
    for (const [event, data] of [
      ['publish', { topic: 5, type: 't', payload: 1 }],
      ['presence', { topic: null }],
      ['presence', { topic: ['chat:room'] }],
    ] as const) {
      const reply = await client.request(event, data);
      expect(reply).toEqual(errorFrame('BAD_REQUEST', { ref: reply.data.ref as string }));
    }
    expect((await client.request('presence', { topic: 'chat:room' })).event).toBe('presence');
    expect(client.isOpen).toBe(true);
  });

  it('checks a present Sec-WebSocket-Origin against the allow-list, as Origin', async () => {
    const evil = 'https://evil.example';
    for (const headers of [
      { 'Sec-WebSocket-Origin': evil },
      { Origin: ALLOWED_ORIGIN, 'Sec-WebSocket-Origin': evil },
      { Origin: evil, 'Sec-WebSocket-Origin': ALLOWED_ORIGIN },
      { 'Sec-WebSocket-Origin': 'null' },
    ] as Array<Record<string, string>>) {
      const refused = await refusal(app.tryConnect({}, { headers }));
      expect({ headers, status: refused.status, body: refused.body }).toEqual({
        headers,
        status: 403,
        body: 'origin not allowed',
      });
    }
    for (const headers of [
      { 'Sec-WebSocket-Origin': 'HTTPS://App.Example.com:443' },
      { Origin: ALLOWED_ORIGIN, 'Sec-WebSocket-Origin': ALLOWED_ORIGIN },
      // Empty counts as absent, as for Origin.
      { 'Sec-WebSocket-Origin': '' },
    ] as Array<Record<string, string>>) {
      await accepted(app.tryConnect({}, { headers }));
    }
  });

  it('follows connected with a subscribed frame whenever ?subscribe= is given, topics: [] when it names none', async () => {
    const none = await accepted(app.tryConnect({ subscribe: ',' }));
    const empty = await none.waitFor((f) => f.event === 'subscribed');
    expect(none.frames.indexOf(empty)).toBe(1);
    expect(empty).toEqual({ event: 'subscribed', data: { topics: [] } });

    const some = await accepted(app.tryConnect({ subscribe: ',news,,news:a,' }));
    const subscribed = await some.waitFor((f) => f.event === 'subscribed');
    expect(subscribed.data.topics.map((t: { topic: string }) => t.topic)).toEqual([
      'news',
      'news:a',
    ]);

    const bare = await accepted(app.tryConnect({ subscribe: '' }));
    expect((await bare.waitFor((f) => f.event === 'subscribed')).data).toEqual({ topics: [] });
    const absent = await accepted(app.tryConnect());
    await expectNothingSince(absent, 1);
  });

  it('refuses ?subscribe= with more than 50 topics, as the subscribe event does, whatever maxSubscriptions allows', async () => {
    const topics = Array.from({ length: 51 }, (_, i) => `news:${i}`);
    const refused = await refusal(app.tryConnect({ subscribe: topics.join(',') }));
    expect({ status: refused.status, body: refused.body }).toEqual({
      status: 403,
      body: 'subscribe refused: BAD_REQUEST',
    });
    const client = await accepted(app.tryConnect({ subscribe: topics.slice(0, 50).join(',') }));
    const subscribed = await client.waitFor((f) => f.event === 'subscribed');
    expect(subscribed.data.topics).toHaveLength(50);
  });
});
