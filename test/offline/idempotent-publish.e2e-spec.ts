import { BroadcastService } from '@nest-realtime/server';
import { barrier } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import { enginesUnderTest } from './offline-engines';

const topics = { feed: { subscribe: 'public' as const, publish: 'none' as const } };

describe.each(enginesUnderTest())('idempotent publish ($name engine)', (engine) => {
  let apps: LibraryApp[];

  beforeAll(async () => {
    const options = await engine.options();
    // Redis mode: two instances on one Redis; memory mode: one process is the whole server.
    const count = engine.name === 'redis' ? 2 : 1;
    apps = [];
    for (let i = 0; i < count; i++) {
      apps.push(await LibraryApp.start({ realtime: { ...options, topics } }));
    }
  });

  afterAll(async () => {
    for (const app of apps) await app.stop();
    await engine.stop();
  });

  const services = () => apps.map((app) => app.app.get(BroadcastService));

  it('concurrent retries with one key give one message and one offset, on every instance', async () => {
    const subscribers = await Promise.all(apps.map((app) => app.connect()));
    for (const subscriber of subscribers)
      await subscriber.request('subscribe', { topics: ['feed'] });
    const retries = Array.from({ length: 12 }, (_, i) =>
      services()[i % apps.length].publish(
        'feed',
        'order.created',
        { n: 1 },
        { idempotencyKey: 'order-1' },
      ),
    );
    const offsets = await Promise.all(retries);
    expect(new Set(offsets).size).toBe(1);
    const later = await services()[apps.length - 1].publish(
      'feed',
      'order.created',
      { n: 1 },
      {
        idempotencyKey: 'order-1',
      },
    );
    expect(later).toBe(offsets[0]);
    // Every subscriber, on every instance, sees the one message once.
    for (const subscriber of subscribers) {
      await subscriber.waitFor((f) => f.event === 'message');
      await barrier(subscriber);
      expect(subscriber.messages('feed').map((m) => m.offset)).toEqual([offsets[0]]);
    }
  });

  it('another key, or no key, publishes again', async () => {
    const [service] = services();
    const a = await service.publish('feed', 't', {}, { idempotencyKey: 'k-a' });
    const b = await service.publish('feed', 't', {}, { idempotencyKey: 'k-b' });
    const plain = await service.publish('feed', 't', {});
    expect(new Set([a, b, plain]).size).toBe(3);
  });

  it('publishes the payload as it was at the call: a change right after it is not sent', async () => {
    const [subscriber] = [await apps[0].connect()];
    await subscriber.request('subscribe', { topics: ['feed'] });
    const [service] = services();
    // One object reused for each item, as a loop over a batch of orders might.
    const payload = { order: 'first' };
    const sent = [service.publish('feed', 'order.updated', payload, { idempotencyKey: 'reuse-1' })];
    payload.order = 'second';
    sent.push(service.publish('feed', 'order.updated', payload, { idempotencyKey: 'reuse-2' }));
    payload.order = 'changed after both calls';
    await Promise.all(sent);
    await subscriber.waitForCount('message', 2);
    expect(subscriber.messages('feed').map((m) => m.payload)).toEqual([
      { order: 'first' },
      { order: 'second' },
    ]);
    await subscriber.close();
  });

  it('refuses an empty or oversized key', async () => {
    const [service] = services();
    await expect(service.publish('feed', 't', {}, { idempotencyKey: '' })).rejects.toThrow(
      /idempotencyKey/,
    );
    await expect(
      service.publish('feed', 't', {}, { idempotencyKey: 'k'.repeat(257) }),
    ).rejects.toThrow(/idempotencyKey/);
  });
});
