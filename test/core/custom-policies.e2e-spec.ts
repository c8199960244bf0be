import { Injectable } from '@nestjs/common';
import {
  BroadcastService,
  type TopicAccessRequest,
  type TopicAuthorizer,
} from '@nest-realtime/server';
import { errorFrame, expectNoLeak, expectNothingSince } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import type { TestClient } from '../support/ws-client';

/** A domain service the authorizer injects: which user owns which order. */
@Injectable()
class OrderDirectory {
  private readonly owners = new Map([
    ['17', '42'],
    ['18', '7'],
  ]);
  readonly asked: TopicAccessRequest[] = [];

  async ownerOf(orderId: string | undefined): Promise<string | undefined> {
    await Promise.resolve(); // a repository would wait on the database here
    return orderId === undefined ? undefined : this.owners.get(orderId);
  }
}

/** "order 17 belongs to user 42": a rule no built-in policy expresses. */
@Injectable()
class OrderOwnerAuthorizer implements TopicAuthorizer {
  constructor(private readonly orders: OrderDirectory) {}

  async authorize(request: TopicAccessRequest): Promise<boolean> {
    this.orders.asked.push(request);
    return (await this.orders.ownerOf(request.key)) === request.principal.userId;
  }
}

/** Fails the way a real dependency fails: with internals in the message and the stack. */
@Injectable()
class FailingAuthorizer implements TopicAuthorizer {
  authorize(): boolean {
    throw new Error(
      'ECONNREFUSED at /srv/app/src/orders/orders.repository.ts:42 (password=hunter2)',
    );
  }
}

/** Answers something truthy that is not `true`: only `true` grants. */
@Injectable()
class SloppyAuthorizer implements TopicAuthorizer {
  authorize(): boolean {
    return 'yes' as unknown as boolean;
  }
}

const MAX_SUBSCRIPTIONS = 5;

/**
 * A user's own app: only `RealtimeModule.forRoot({...})`, its own namespaces,
 * and custom authorizers resolved through DI (PROTOCOL §4).
 */
describe('core: custom policies in an app that imports only RealtimeModule', () => {
  let lib: LibraryApp;
  let directory: OrderDirectory;
  let realtime: BroadcastService;

  beforeAll(async () => {
    lib = await LibraryApp.start({
      realtime: {
        topics: {
          order: {
            subscribe: { authorizer: OrderOwnerAuthorizer },
            publish: { authorizer: OrderOwnerAuthorizer },
          },
          failing: {
            subscribe: { authorizer: FailingAuthorizer },
            publish: { authorizer: FailingAuthorizer },
          },
          sloppy: { subscribe: { authorizer: SloppyAuthorizer } },
          staff: { subscribe: { roles: ['support', 'admin'] }, publish: { roles: ['admin'] } },
          mine: { subscribe: 'owner', publish: 'owner' },
          closed: { subscribe: 'none', publish: 'none' },
          feed: { subscribe: 'public' },
          room: { subscribe: 'public', publish: 'authenticated', maxPerConnection: 2 },
        },
        limits: { maxSubscriptions: MAX_SUBSCRIPTIONS },
      },
      providers: [OrderDirectory, OrderOwnerAuthorizer, FailingAuthorizer, SloppyAuthorizer],
      // FailingAuthorizer makes the library log a stack trace on purpose.
      logger: false,
    });
    directory = lib.app.get(OrderDirectory);
    realtime = lib.app.get(BroadcastService);
  });

  afterAll(() => lib.stop());

  describe('a custom authorizer injected through DI', () => {
    it('grants order:17 to user 42, with the request it needs to decide', async () => {
      const client = await lib.connect('42', ['customer']);
      const asked = directory.asked.length;
      const reply = await client.request('subscribe', { topics: ['order:17'] });
      expect(reply).toEqual({
        event: 'subscribed',
        data: { ref: reply.data.ref, topics: [{ topic: 'order:17', offset: expect.any(String) }] },
      });
      expect(directory.asked.slice(asked)).toEqual([
        {
          principal: expect.objectContaining({ userId: '42', roles: ['customer'] }),
          action: 'subscribe',
          topic: 'order:17',
          namespace: 'order',
          key: '17',
        },
      ]);
      const offset = await realtime.publish('order:17', 'order.shipped', { id: '17' });
      const message = await client.waitFor((f) => f.event === 'message');
      expect(message.data).toEqual({
        topic: 'order:17',
        type: 'order.shipped',
        payload: { id: '17' },
        offset,
        ts: expect.any(Number),
      });
    });

    it.each([
      ['another user’s order', '7', 'order:17'],
      ['an order nobody owns', '42', 'order:99'],
      ['the bare namespace', '42', 'order'],
    ])('refuses %s with FORBIDDEN_TOPIC', async (_case, userId, topic) => {
      const client = await lib.connect(userId);
      const reply = await client.request('subscribe', { topics: [topic] });
      expect(reply).toEqual(errorFrame('FORBIDDEN_TOPIC', { ref: reply.data.ref, topic }));
    });

    it('answers an anonymous client UNAUTHORIZED without asking the authorizer', async () => {
      const client = await lib.connect();
      const asked = directory.asked.length;
      const reply = await client.request('subscribe', { topics: ['order:17'] });
      expect(reply).toEqual(errorFrame('UNAUTHORIZED', { ref: reply.data.ref, topic: 'order:17' }));
      expect(directory.asked.length).toBe(asked);
    });

    it('decides client publish too, with action publish', async () => {
      const owner = await lib.connect('42');
      const asked = directory.asked.length;
      const ok = await owner.request('publish', {
        topic: 'order:17',
        type: 'order.note',
        payload: { text: 'hi' },
      });
      expect(ok).toEqual({
        event: 'published',
        data: { ref: ok.data.ref, offset: expect.any(String) },
      });
      expect(directory.asked[asked]).toMatchObject({
        action: 'publish',
        topic: 'order:17',
        key: '17',
      });

      const stranger = await lib.connect('7');
      const refused = await stranger.request('publish', {
        topic: 'order:17',
        type: 'order.note',
        payload: {},
      });
      expect(refused).toEqual(
        errorFrame('FORBIDDEN_TOPIC', { ref: refused.data.ref, topic: 'order:17' }),
      );
    });

    it('grants only on true: a truthy answer is a refusal', async () => {
      const client = await lib.connect('42');
      const reply = await client.request('subscribe', { topics: ['sloppy:1'] });
      expect(reply).toEqual(
        errorFrame('FORBIDDEN_TOPIC', { ref: reply.data.ref, topic: 'sloppy:1' }),
      );
    });

    it('authorizes ?subscribe= at connect the same way', async () => {
      const ok = await lib.tryConnect({ token: lib.token('42'), subscribe: 'order:17,feed' });
      expect(ok.kind).toBe('open');
      if (ok.kind === 'open') {
        const subscribed = await ok.client.waitFor((f) => f.event === 'subscribed');
        expect(ok.client.frames.indexOf(subscribed)).toBe(1);
        expect(subscribed.data).toEqual({
          topics: [
            { topic: 'order:17', offset: expect.any(String) },
            { topic: 'feed', offset: expect.any(String) },
          ],
        });
      }
      const refused = await lib.tryConnect({ token: lib.token('7'), subscribe: 'feed,order:17' });
      expect(refused).toMatchObject({ kind: 'refused', status: 403 });
    });
  });

  describe('INTERNAL when an authorizer throws', () => {
    it('answers INTERNAL naming the topic, with nothing of the failure in the frame', async () => {
      const client = await lib.connect('42');
      const reply = await client.request('subscribe', { topics: ['failing:1'] });
      expect(reply).toEqual(errorFrame('INTERNAL', { ref: reply.data.ref, topic: 'failing:1' }));
      expectNoLeak(client.raw[client.raw.length - 1]);
      expect(client.raw.join('\n')).not.toMatch(/ECONNREFUSED|hunter2|repository/);
    });

    it('keeps the connection and changes nothing (all-or-nothing)', async () => {
      const client = await lib.connect('42');
      const reply = await client.request('subscribe', { topics: ['feed', 'failing:2'] });
      expect(reply.data.code).toBe('INTERNAL');
      const from = client.frames.length;
      await realtime.publish('feed', 'probe', {});
      await expectNothingSince(client, from);
      expect((await client.request('subscribe', { topics: ['feed'] })).event).toBe('subscribed');
    });

    it('answers a handshake whose ?subscribe= hits it with 500, not a refusal', async () => {
      const result = await lib.tryConnect({ token: lib.token('42'), subscribe: 'feed,failing:4' });
      expect(result).toMatchObject({ kind: 'refused', status: 500, body: 'internal error' });
    });

    it('answers INTERNAL on client publish too', async () => {
      const client = await lib.connect('42');
      const reply = await client.request('publish', { topic: 'failing:3', type: 't', payload: {} });
      expect(reply).toEqual(errorFrame('INTERNAL', { ref: reply.data.ref, topic: 'failing:3' }));
      expectNoLeak(client.raw[client.raw.length - 1]);
      expect(client.isOpen).toBe(true);
    });
  });

  describe('built-in rules in a custom table', () => {
    it.each<[string, string | null, string[], string, 'ok' | 'UNAUTHORIZED' | 'FORBIDDEN_TOPIC']>([
      ['subscribe', '1', ['support'], 'staff', 'ok'],
      ['subscribe', '2', ['admin'], 'staff', 'ok'],
      ['subscribe', '3', ['customer'], 'staff', 'FORBIDDEN_TOPIC'],
      ['subscribe', '4', [], 'staff', 'FORBIDDEN_TOPIC'],
      ['subscribe', null, [], 'staff', 'UNAUTHORIZED'],
      ['publish', '1', ['support'], 'staff', 'FORBIDDEN_TOPIC'],
      ['publish', '2', ['admin'], 'staff', 'ok'],
      ['subscribe', '5', [], 'mine:5', 'ok'],
      ['publish', '5', [], 'mine:5', 'ok'],
      ['publish', '5', [], 'mine:6', 'FORBIDDEN_TOPIC'],
      ['subscribe', '6', ['admin'], 'closed', 'FORBIDDEN_TOPIC'],
      ['publish', '6', ['admin'], 'closed:x', 'FORBIDDEN_TOPIC'],
      ['publish', null, [], 'feed', 'FORBIDDEN_TOPIC'],
      ['subscribe', '7', ['admin'], 'unlisted', 'FORBIDDEN_TOPIC'],
      ['subscribe', null, [], 'unlisted:key', 'FORBIDDEN_TOPIC'],
    ])(
      '%s %s as user %s with roles %j on %s → %s',
      async (event, userId, roles, topic, outcome) => {
        const client = await lib.connect(userId ?? undefined, roles);
        const data =
          event === 'subscribe' ? { topics: [topic] } : { topic, type: 't', payload: {} };
        const reply = await client.request(event, data);
        if (outcome === 'ok')
          expect(reply.event).toBe(event === 'subscribe' ? 'subscribed' : 'published');
        else expect(reply).toEqual(errorFrame(outcome, { ref: reply.data.ref, topic }));
      },
    );
  });

  describe('SUBSCRIPTION_LIMIT', () => {
    it('over a namespace’s maxPerConnection, naming the topic; other namespaces unaffected', async () => {
      const client = await lib.connect('8');
      expect((await client.request('subscribe', { topics: ['room:a', 'room:b'] })).event).toBe(
        'subscribed',
      );
      const over = await client.request('subscribe', { topics: ['room:c'] });
      expect(over).toEqual(
        errorFrame('SUBSCRIPTION_LIMIT', { ref: over.data.ref, topic: 'room:c' }),
      );
      expect((await client.request('subscribe', { topics: ['feed', 'room:a'] })).event).toBe(
        'subscribed',
      );
      await client.request('unsubscribe', { topics: ['room:a'] });
      expect((await client.request('subscribe', { topics: ['room:c'] })).event).toBe('subscribed');
    });

    it('a request over maxPerConnection subscribes to none of its topics', async () => {
      const client = await lib.connect('9');
      const reply = await client.request('subscribe', { topics: ['room:x', 'room:y', 'room:z'] });
      expect(reply).toEqual(
        errorFrame('SUBSCRIPTION_LIMIT', { ref: reply.data.ref, topic: 'room:z' }),
      );
      const from = client.frames.length;
      await realtime.publish('room:x', 'probe', {});
      await realtime.publish('room:y', 'probe', {});
      await expectNothingSince(client, from);
    });

    it('over maxSubscriptions across namespaces', async () => {
      const client: TestClient = await lib.connect('10');
      const five = ['feed', 'feed:1', 'feed:2', 'room:1', 'room:2'];
      expect(five).toHaveLength(MAX_SUBSCRIPTIONS);
      expect((await client.request('subscribe', { topics: five })).event).toBe('subscribed');
      const over = await client.request('subscribe', { topics: ['feed:3'] });
      expect(over).toEqual(
        errorFrame('SUBSCRIPTION_LIMIT', { ref: over.data.ref, topic: 'feed:3' }),
      );
    });

    it('refuses ?subscribe= over maxPerConnection with 403', async () => {
      const result = await lib.tryConnect({ subscribe: 'room:1,room:2,room:3' });
      expect(result).toMatchObject({ kind: 'refused', status: 403 });
    });
  });

  it('refuses to start when an authorizer is not a provider', async () => {
    @Injectable()
    class UnprovidedAuthorizer implements TopicAuthorizer {
      authorize(): boolean {
        return true;
      }
    }
    await expect(
      LibraryApp.start({
        realtime: { topics: { order: { subscribe: { authorizer: UnprovidedAuthorizer } } } },
        logger: false,
      }),
    ).rejects.toThrow(/UnprovidedAuthorizer.*not a provider/);
  });
});
