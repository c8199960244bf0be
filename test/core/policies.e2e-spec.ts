import { BroadcastService } from '@nest-realtime/server';
import { DemoApp } from '../support/demo-app';
import { barrier, errorFrame, expectNothingSince } from '../support/frame-helpers';
import type { TestClient } from '../support/ws-client';

type Who = 'anonymous' | 'alice' | 'admin';
type Outcome = 'ok' | 'UNAUTHORIZED' | 'FORBIDDEN_TOPIC';

/**
 * PROTOCOL §4 and §7: the demo's namespace policies for subscribe and client
 * publish, deny by default, and the all-or-nothing rule of `subscribe`.
 */
describe('core: topic policies of the demo app', () => {
  let demo: DemoApp;
  let realtime: BroadcastService;
  let adminToken: string;
  const clients = {} as Record<Who, TestClient>;

  beforeAll(async () => {
    demo = await DemoApp.start();
    realtime = demo.app.get(BroadcastService);
    adminToken = await demo.token('root', ['admin']);
    clients.anonymous = await demo.connect();
    clients.alice = await demo.connect({ token: await demo.token('alice', ['support']) });
    clients.admin = await demo.connect({ token: adminToken });
  });

  afterAll(() => demo.stop());

  async function expectOutcome(
    who: Who,
    event: string,
    data: Record<string, unknown>,
    topic: string,
    outcome: Outcome,
  ) {
    const client = clients[who];
    const reply = await client.request(event, data);
    if (outcome === 'ok') {
      expect(reply.event).toBe(event === 'subscribe' ? 'subscribed' : 'published');
      if (event === 'subscribe') await client.request('unsubscribe', { topics: [topic] });
    } else {
      expect(reply).toEqual(errorFrame(outcome, { ref: reply.data.ref, topic }));
    }
  }

  const subscribeCases: Array<[string, Who, Outcome]> = [
    // public
    ['market_data', 'anonymous', 'ok'],
    ['market_data', 'alice', 'ok'],
    ['system_alerts', 'anonymous', 'ok'],
    ['bench', 'anonymous', 'ok'],
    // authenticated
    ['orders', 'anonymous', 'UNAUTHORIZED'],
    ['orders', 'alice', 'ok'],
    ['inventory', 'alice', 'ok'],
    ['inventory:sku-42', 'alice', 'ok'],
    ['inventory:sku-42', 'anonymous', 'UNAUTHORIZED'],
    ['chat:general', 'alice', 'ok'],
    // owner
    ['user:alice', 'alice', 'ok'],
    ['user:bob', 'alice', 'FORBIDDEN_TOPIC'],
    ['user:ALICE', 'alice', 'FORBIDDEN_TOPIC'],
    ['user', 'alice', 'FORBIDDEN_TOPIC'],
    ['user:alice', 'admin', 'FORBIDDEN_TOPIC'],
    ['user:alice', 'anonymous', 'UNAUTHORIZED'],
    // roles
    ['admin', 'admin', 'ok'],
    ['admin', 'alice', 'FORBIDDEN_TOPIC'],
    ['admin', 'anonymous', 'UNAUTHORIZED'],
    // no policy: deny by default, whoever asks
    ['nowhere', 'alice', 'FORBIDDEN_TOPIC'],
    ['nowhere', 'admin', 'FORBIDDEN_TOPIC'],
    ['nowhere', 'anonymous', 'FORBIDDEN_TOPIC'],
    ['secrets:key', 'admin', 'FORBIDDEN_TOPIC'],
    // a policy on `market_data` says nothing about `market_data_eu`
    ['market_data_eu', 'anonymous', 'FORBIDDEN_TOPIC'],
  ];

  it.each(subscribeCases)('subscribe %s as %s → %s', async (topic, who, outcome) => {
    await expectOutcome(who, 'subscribe', { topics: [topic] }, topic, outcome);
  });

  const publishCases: Array<[string, Who, Outcome]> = [
    // chat:* — authenticated publish
    ['chat:general', 'alice', 'ok'],
    ['chat:general', 'anonymous', 'UNAUTHORIZED'],
    // bench — public subscribe, authenticated publish
    ['bench', 'alice', 'ok'],
    ['bench', 'anonymous', 'UNAUTHORIZED'],
    // no publish rule: `none`, even for admins and on public topics
    ['market_data', 'alice', 'FORBIDDEN_TOPIC'],
    ['market_data', 'anonymous', 'FORBIDDEN_TOPIC'],
    ['orders', 'alice', 'FORBIDDEN_TOPIC'],
    ['orders', 'admin', 'FORBIDDEN_TOPIC'],
    ['user:alice', 'alice', 'FORBIDDEN_TOPIC'],
    ['admin', 'admin', 'FORBIDDEN_TOPIC'],
    ['nowhere', 'admin', 'FORBIDDEN_TOPIC'],
  ];

  it.each(publishCases)('publish to %s as %s → %s', async (topic, who, outcome) => {
    await expectOutcome(
      who,
      'publish',
      { topic, type: 'policy.check', payload: { n: 1 } },
      topic,
      outcome,
    );
  });

  it('a refused client publish reaches no subscriber', async () => {
    const listener = await demo.connect({ token: await demo.token('listener') });
    await listener.request('subscribe', { topics: ['orders', 'market_data'] });
    const from = listener.frames.length;
    expect(
      (await clients.alice.request('publish', { topic: 'orders', type: 'fake', payload: {} }))
        .event,
    ).toBe('error');
    expect(
      (
        await clients.anonymous.request('publish', {
          topic: 'market_data',
          type: 'fake',
          payload: {},
        })
      ).event,
    ).toBe('error');
    await expectNothingSince(listener, from);
  });

  describe('subscribe is all-or-nothing', () => {
    async function subscriptionCount(): Promise<number> {
      const stats = await demo.http('GET', '/ws/stats', undefined, adminToken);
      return (stats.body as { subscriptions: number }).subscriptions;
    }

    /** Publishes to each topic and proves none of it reached the client. */
    async function expectNotSubscribed(client: TestClient, topics: string[]): Promise<void> {
      const from = client.frames.length;
      for (const topic of topics) await realtime.publish(topic, 'probe', { topic });
      await expectNothingSince(client, from);
    }

    it('a forbidden topic among allowed ones: nothing changes, the error names it', async () => {
      const client = await demo.connect({ token: await demo.token('atom') });
      const before = await subscriptionCount();
      const reply = await client.request('subscribe', {
        topics: ['market_data', 'user:atom', 'user:someone', 'nowhere', 'orders'],
      });
      expect(reply).toEqual(
        errorFrame('FORBIDDEN_TOPIC', { ref: reply.data.ref, topic: 'user:someone' }),
      );
      expect(await subscriptionCount()).toBe(before);
      await expectNotSubscribed(client, ['market_data', 'user:atom', 'orders']);
    });

    it('a topic needing a user, asked anonymously: nothing changes, UNAUTHORIZED names it', async () => {
      const client = await demo.connect();
      const before = await subscriptionCount();
      const reply = await client.request('subscribe', {
        topics: ['market_data', 'system_alerts', 'orders'],
      });
      expect(reply).toEqual(errorFrame('UNAUTHORIZED', { ref: reply.data.ref, topic: 'orders' }));
      expect(await subscriptionCount()).toBe(before);
      await expectNotSubscribed(client, ['market_data', 'system_alerts']);
    });

    it('an invalid topic among valid ones: nothing changes, INVALID_TOPIC names it', async () => {
      const client = await demo.connect();
      const before = await subscriptionCount();
      const reply = await client.request('subscribe', { topics: ['market_data', 'Not Valid'] });
      expect(reply).toEqual(
        errorFrame('INVALID_TOPIC', { ref: reply.data.ref, topic: 'Not Valid' }),
      );
      expect(await subscriptionCount()).toBe(before);
      await expectNotSubscribed(client, ['market_data']);
    });

    it('names the first refused topic in request order, whatever the reason of the later ones', async () => {
      const client = await demo.connect({ token: await demo.token('order-user') });
      const forbiddenFirst = await client.request('subscribe', {
        topics: ['market_data', 'nowhere', 'Bad Name'],
      });
      expect(forbiddenFirst).toEqual(
        errorFrame('FORBIDDEN_TOPIC', { ref: forbiddenFirst.data.ref, topic: 'nowhere' }),
      );
      const invalidFirst = await client.request('subscribe', {
        topics: ['market_data', 'Bad Name', 'nowhere'],
      });
      expect(invalidFirst).toEqual(
        errorFrame('INVALID_TOPIC', { ref: invalidFirst.data.ref, topic: 'Bad Name' }),
      );
      await expectNotSubscribed(client, ['market_data']);
    });

    it('keeps what was held before the refused request', async () => {
      const client = await demo.connect({ token: await demo.token('keeper') });
      await client.request('subscribe', { topics: ['system_alerts'] });
      const before = await subscriptionCount();
      const reply = await client.request('subscribe', { topics: ['market_data', 'admin'] });
      expect(reply).toEqual(errorFrame('FORBIDDEN_TOPIC', { ref: reply.data.ref, topic: 'admin' }));
      expect(await subscriptionCount()).toBe(before);
      const from = client.frames.length;
      const kept = await realtime.publish('system_alerts', 'probe', {});
      await realtime.publish('market_data', 'probe', {});
      const end = await barrier(client);
      expect(
        client.frames.slice(from, end).map((f) => [f.event, f.data.topic, f.data.offset]),
      ).toEqual([['message', 'system_alerts', kept]]);
    });
  });
});
