import { DemoApp } from '../support/demo-app';
import { errorFrame, expectNoLeak, sendRawForError } from '../support/frame-helpers';
import type { Frame, TestClient } from '../support/ws-client';

const MAX_SUBSCRIPTIONS = 3;

/**
 * PROTOCOL §2-§4: every error code the core can produce, each as an `error`
 * frame of the exact shape, echoing `ref` only when it was a valid one, and
 * never closing the connection.
 */
describe('core: error replies', () => {
  let demo: DemoApp;
  let anonymous: TestClient;
  let user: TestClient;

  beforeAll(async () => {
    demo = await DemoApp.start({ REALTIME_MAX_SUBSCRIPTIONS: String(MAX_SUBSCRIPTIONS) });
    anonymous = await demo.connect();
    user = await demo.connect({ token: await demo.token('ursula') });
  });

  afterAll(() => demo.stop());

  /** The error did not close the connection: it still answers. */
  async function expectStillServing(client: TestClient): Promise<void> {
    expect(client.isOpen).toBe(true);
    expect((await client.request('ping')).event).toBe('pong');
  }

  function expectErrorShape(
    frame: Frame,
    code: string,
    extra: { ref?: string; topic?: string } = {},
  ): void {
    expect(frame).toEqual(errorFrame(code, extra));
    expect(frame.data.message.length).toBeGreaterThan(0);
    expectNoLeak(JSON.stringify(frame));
  }

  describe('BAD_REQUEST for frames that are not a JSON object {event, data}', () => {
    const tooLongRef = 'x'.repeat(65);
    it.each<[string, string, string | undefined]>([
      ['plain text', 'hello', undefined],
      ['truncated JSON', '{"event":"ping","data":{"ref":"t1"}', undefined],
      ['an empty frame', '', undefined],
      ['a JSON array', '[{"event":"ping","data":{"ref":"a1"}}]', undefined],
      ['a JSON string', '"ping"', undefined],
      ['a JSON number', '42', undefined],
      ['JSON null', 'null', undefined],
      ['an event that is not a string', '{"event":1,"data":{"ref":"e1"}}', 'e1'],
      ['a missing event', '{"data":{"ref":"e2"}}', 'e2'],
      ['data that is an array', '{"event":"ping","data":[]}', undefined],
      ['data that is a string', '{"event":"ping","data":"ref"}', undefined],
      ['an unknown top-level field', '{"event":"ping","data":{"ref":"f1"},"extra":true}', 'f1'],
      ['an unknown field in data', '{"event":"ping","data":{"ref":"f2","extra":true}}', 'f2'],
      ['a ref that is a number', '{"event":"ping","data":{"ref":7}}', undefined],
      ['a ref over 64 characters', `{"event":"ping","data":{"ref":"${tooLongRef}"}}`, undefined],
      ['subscribe without data', '{"event":"subscribe"}', undefined],
      ['subscribe with empty data', '{"event":"subscribe","data":{"ref":"s0"}}', 's0'],
    ])('%s', async (_case, raw, ref) => {
      const error = await sendRawForError(anonymous, raw);
      expectErrorShape(error, 'BAD_REQUEST', ref === undefined ? {} : { ref });
      expect(Object.keys(error.data)).toEqual(
        ref === undefined ? ['code', 'message'] : ['ref', 'code', 'message'],
      );
      await expectStillServing(anonymous);
    });

    it('a binary frame, even one holding valid JSON', async () => {
      const json = JSON.stringify({ event: 'ping', data: { ref: 'bin' } });
      const error = await sendRawForError(anonymous, Buffer.from(json), true);
      expectErrorShape(error, 'BAD_REQUEST');
      await expectStillServing(anonymous);
    });

    it('echoes the ref of a frame nested too deeply to parse, wherever data.ref is (issue 23, item 8a)', async () => {
      const deep = '['.repeat(10_000) + ']'.repeat(10_000);
      for (const raw of [
        `{"event":"ping","data":{"ref":"deep-1","x":${deep}}}`,
        `{"event":"ping","data":{"x":${deep},"ref":"deep-1"}}`,
      ]) {
        const error = await sendRawForError(anonymous, raw);
        expectErrorShape(error, 'BAD_REQUEST', { ref: 'deep-1' });
      }
      await expectStillServing(anonymous);
    });

    it('echoes a ref of exactly 64 characters', async () => {
      const ref = 'r'.repeat(64);
      const from = anonymous.frames.length;
      anonymous.send('ping', { ref });
      const pong = await anonymous.waitFor((f) => f.event === 'pong', { from });
      expect(pong.data.ref).toBe(ref);
      const error = await sendRawForError(
        anonymous,
        JSON.stringify({ event: 'ping', data: { ref, x: 1 } }),
      );
      expectErrorShape(error, 'BAD_REQUEST', { ref });
    });
  });

  describe('BAD_REQUEST for data of the wrong shape or types (ref echoed)', () => {
    const nested = (depth: number): unknown => (depth === 0 ? 'leaf' : { d: nested(depth - 1) });
    const topics51 = Array.from({ length: 51 }, (_, i) => `chat:t${i}`);
    it.each<[string, string, Record<string, unknown>]>([
      ['subscribe: topics missing', 'subscribe', {}],
      ['subscribe: topics a string', 'subscribe', { topics: 'market_data' }],
      ['subscribe: topics empty', 'subscribe', { topics: [] }],
      ['subscribe: topics over 50', 'subscribe', { topics: topics51 }],
      ['subscribe: a topic that is not a string', 'subscribe', { topics: ['market_data', 5] }],
      ['subscribe: since an array', 'subscribe', { topics: ['market_data'], since: ['1-1'] }],
      [
        'subscribe: since with a number offset',
        'subscribe',
        { topics: ['market_data'], since: { market_data: 5 } },
      ],
      ['subscribe: an unknown field', 'subscribe', { topics: ['market_data'], from: 'now' }],
      ['unsubscribe: topics missing', 'unsubscribe', {}],
      ['unsubscribe: topics a string', 'unsubscribe', { topics: 'market_data' }],
      ['ping: an unknown field', 'ping', { now: true }],
      ['auth: token missing', 'auth', {}],
      ['auth: token a number', 'auth', { token: 12 }],
      ['auth: token empty', 'auth', { token: '' }],
      ['publish: payload missing', 'publish', { topic: 'chat:x', type: 't' }],
      ['publish: topic missing', 'publish', { type: 't', payload: {} }],
      ['publish: type a number', 'publish', { topic: 'chat:x', type: 1, payload: {} }],
      ['publish: type empty', 'publish', { topic: 'chat:x', type: '', payload: {} }],
      [
        'publish: type over 100 characters',
        'publish',
        { topic: 'chat:x', type: 't'.repeat(101), payload: {} },
      ],
      [
        'publish: an unknown field',
        'publish',
        { topic: 'chat:x', type: 't', payload: {}, offset: '1' },
      ],
      [
        'publish: a payload nested 40 deep',
        'publish',
        { topic: 'chat:x', type: 't', payload: nested(40) },
      ],
    ])('%s', async (_case, event, data) => {
      const reply = await user.request(event, data);
      expectErrorShape(reply, 'BAD_REQUEST', { ref: reply.data.ref });
      expect(reply.data.ref).toMatch(/^r\d+$/);
      await expectStillServing(user);
    });

    it('a bad request changes nothing: a subscribe with a bad since subscribes to nothing', async () => {
      const client = await demo.connect({ token: await demo.token('since-user') });
      const reply = await client.request('subscribe', {
        topics: ['chat:since'],
        since: { 'chat:since': 1 },
      });
      expect(reply.data.code).toBe('BAD_REQUEST');
      const author = await demo.connect({ token: await demo.token('since-author') });
      await author.request('publish', { topic: 'chat:since', type: 't', payload: {} });
      const from = client.frames.length;
      await client.request('ping');
      expect(client.frames.slice(from).filter((f) => f.event === 'message')).toEqual([]);
    });
  });

  describe('UNKNOWN_EVENT', () => {
    it.each<[string, string, string | undefined]>([
      ['an unknown event', '{"event":"join","data":{"ref":"u1"}}', 'u1'],
      ['a server-to-client event name', '{"event":"message","data":{"ref":"u2"}}', 'u2'],
      ['an event with the wrong case', '{"event":"PING","data":{"ref":"u3"}}', 'u3'],
      ['an unknown event without data', '{"event":"join"}', undefined],
      ['an unknown event with an invalid ref', '{"event":"join","data":{"ref":["u4"]}}', undefined],
    ])('%s', async (_case, raw, ref) => {
      const error = await sendRawForError(anonymous, raw);
      expectErrorShape(error, 'UNKNOWN_EVENT', ref === undefined ? {} : { ref });
      await expectStillServing(anonymous);
    });
  });

  describe('UNAUTHORIZED', () => {
    it.each(['orders', 'inventory', 'inventory:sku-1', 'chat:room', 'user:ursula', 'admin'])(
      'anonymous subscribe to %s, which needs a user',
      async (topic) => {
        const reply = await anonymous.request('subscribe', { topics: [topic] });
        expectErrorShape(reply, 'UNAUTHORIZED', { ref: reply.data.ref, topic });
        await expectStillServing(anonymous);
      },
    );

    it.each(['chat:room', 'bench'])(
      'anonymous publish to %s, which needs a user',
      async (topic) => {
        const reply = await anonymous.request('publish', {
          topic,
          type: 'chat.message',
          payload: {},
        });
        expectErrorShape(reply, 'UNAUTHORIZED', { ref: reply.data.ref, topic });
        await expectStillServing(anonymous);
      },
    );
  });

  describe('INVALID_TOPIC (PROTOCOL §4 name patterns)', () => {
    const badNames: Array<[string, string]> = [
      ['empty', ''],
      ['upper-case namespace', 'Orders'],
      ['namespace starting with a digit', '1orders'],
      ['namespace starting with _', '_orders'],
      ['namespace starting with -', '-orders'],
      ['namespace of 33 characters', `a${'b'.repeat(32)}`],
      ['space in namespace', 'market data'],
      ['dot in namespace', 'market.data'],
      ['empty key', 'chat:'],
      ['empty namespace', ':room'],
      ['colon in key', 'chat:a:b'],
      ['slash in key', 'chat:a/b'],
      ['space in key', 'chat:a b'],
      ['non-ASCII key', 'chat:café'],
      ['key of 101 characters', `chat:${'k'.repeat(101)}`],
      ['wildcard key', 'chat:*'],
    ];

    it.each(badNames)('subscribe to a topic with %s', async (_case, topic) => {
      const reply = await user.request('subscribe', { topics: [topic] });
      expectErrorShape(reply, 'INVALID_TOPIC', { ref: reply.data.ref, topic });
      await expectStillServing(user);
    });

    it.each(badNames.slice(0, 6))('publish to a topic with %s', async (_case, topic) => {
      const reply = await user.request('publish', { topic, type: 't', payload: {} });
      expectErrorShape(reply, 'INVALID_TOPIC', { ref: reply.data.ref, topic });
    });

    it('unsubscribe from an invalid topic', async () => {
      const reply = await user.request('unsubscribe', { topics: ['chat:a b'] });
      expectErrorShape(reply, 'INVALID_TOPIC', { ref: reply.data.ref, topic: 'chat:a b' });
    });

    it('accepts the boundary cases: 32-character namespace, 100-character key of every allowed class', async () => {
      const namespace32 = `a${'b'.repeat(31)}`;
      const noPolicy = await user.request('subscribe', { topics: [namespace32] });
      expectErrorShape(noPolicy, 'FORBIDDEN_TOPIC', { ref: noPolicy.data.ref, topic: namespace32 });

      const key = `Az09_.@=-${'k'.repeat(91)}`;
      expect(key).toHaveLength(100);
      const client = await demo.connect({ token: await demo.token('boundary') });
      const ok = await client.request('subscribe', { topics: [`chat:${key}`, 'market_data'] });
      expect(ok.event).toBe('subscribed');
      expect(ok.data.topics.map((t: { topic: string }) => t.topic)).toEqual([
        `chat:${key}`,
        'market_data',
      ]);
    });
  });

  describe('SUBSCRIPTION_LIMIT', () => {
    it('refuses the subscription past maxSubscriptions, naming it, and keeps the ones held', async () => {
      const client = await demo.connect({ token: await demo.token('limit-a') });
      const held = await client.request('subscribe', { topics: ['chat:l1', 'chat:l2', 'chat:l3'] });
      expect(held.event).toBe('subscribed');
      const over = await client.request('subscribe', { topics: ['chat:l4'] });
      expectErrorShape(over, 'SUBSCRIPTION_LIMIT', { ref: over.data.ref, topic: 'chat:l4' });
      // Topics already held do not count twice.
      const again = await client.request('subscribe', { topics: ['chat:l1', 'chat:l3'] });
      expect(again.event).toBe('subscribed');
      // Unsubscribing frees a slot.
      await client.request('unsubscribe', { topics: ['chat:l2'] });
      expect((await client.request('subscribe', { topics: ['chat:l4'] })).event).toBe('subscribed');
      await expectStillServing(client);
    });

    it('refuses a single request over the limit as a whole, naming the first topic past it', async () => {
      const client = await demo.connect({ token: await demo.token('limit-b') });
      const reply = await client.request('subscribe', {
        topics: ['chat:m1', 'chat:m2', 'chat:m3', 'chat:m4', 'chat:m5'],
      });
      expectErrorShape(reply, 'SUBSCRIPTION_LIMIT', { ref: reply.data.ref, topic: 'chat:m4' });
      // Nothing was added: the whole limit is still free.
      const ok = await client.request('subscribe', { topics: ['chat:n1', 'chat:n2', 'chat:n3'] });
      expect(ok.event).toBe('subscribed');
    });

    it('names the first refused topic in request order, limit or policy alike', async () => {
      const client = await demo.connect({ token: await demo.token('limit-c') });
      const limitFirst = await client.request('subscribe', {
        topics: ['chat:o1', 'chat:o2', 'chat:o3', 'chat:o4', 'nowhere'],
      });
      expectErrorShape(limitFirst, 'SUBSCRIPTION_LIMIT', {
        ref: limitFirst.data.ref,
        topic: 'chat:o4',
      });
      const policyFirst = await client.request('subscribe', {
        topics: ['chat:o1', 'nowhere', 'chat:o2', 'chat:o3', 'chat:o4'],
      });
      expectErrorShape(policyFirst, 'FORBIDDEN_TOPIC', {
        ref: policyFirst.data.ref,
        topic: 'nowhere',
      });
    });
  });

  it('answered every error above on the same two connections, which are still open', async () => {
    await expectStillServing(anonymous);
    await expectStillServing(user);
    const errors = [...anonymous.framesOf('error'), ...user.framesOf('error')];
    expect(errors.length).toBeGreaterThan(60);
    for (const raw of [...anonymous.raw, ...user.raw]) expectNoLeak(raw);
  });
});
