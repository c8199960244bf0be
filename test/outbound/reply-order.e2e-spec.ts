import { BroadcastService, type RealtimeEngine } from '@nest-realtime/server';
import { REALTIME_ENGINE } from '../../libs/realtime/src/realtime.constants';
import { LibraryApp } from '../support/library-app';
import { waitUntil } from '../support/waits';

/**
 * A publish lets the client's next request start as soon as its engine call
 * is issued. Whatever that next request writes (a subscribe's `subscribed`
 * and catch-up, an auth's `unsubscribed`) still waits for the publish's
 * reply: replies leave in request order.
 */
describe('replies in request order behind a publish that waits for its offset', () => {
  let app: LibraryApp;
  let broadcasts: BroadcastService;
  /** Holds back the engine's answers from now until `releaseOffsets()`. */
  let holdOffsets: () => void;
  let releaseOffsets: () => void;
  const subscriptions = () => broadcasts.stats().subscriptions;

  beforeAll(async () => {
    app = await LibraryApp.start({
      realtime: {
        topics: {
          feed: { subscribe: 'public', publish: 'authenticated' },
          news: { subscribe: 'public' },
          ops: { subscribe: { roles: ['admin'] } },
        },
      },
    });
    broadcasts = app.app.get(BroadcastService);
    // The engine publishes at once, as it must; only its answer (the offset) is held back.
    const engine = app.app.get<RealtimeEngine>(REALTIME_ENGINE);
    const publish = engine.publish.bind(engine);
    let held = Promise.resolve();
    engine.publish = (topic, type, payload) => {
      const published = publish(topic, type, payload);
      return held.then(() => published);
    };
    holdOffsets = () => {
      held = new Promise<void>((resolve) => (releaseOffsets = resolve));
    };
  });
  afterAll(() => app.stop());

  it('writes `subscribed` and the recovered messages after the earlier publish’s reply', async () => {
    const first = await broadcasts.publish('news', 'n', 1);
    await broadcasts.publish('news', 'n', 2);
    holdOffsets();
    const client = await app.connect('ada');
    client.send('publish', { topic: 'feed', type: 'said', payload: 'hi', ref: 'p1' });
    client.send('subscribe', { topics: ['news'], since: { news: first }, ref: 's1' });
    client.send('ping', { ref: 'q1' });
    // The subscribe has started (its topic is registered); its reply waits for the publish's.
    await waitUntil(() => subscriptions() === 1, 5_000, 'the subscribe to start');
    void broadcasts.publish('news', 'n', 3);
    releaseOffsets();
    await client.waitFor((f) => f.data?.ref === 'q1');

    expect(client.frames.slice(1).map((f) => `${f.event}:${f.data.ref ?? f.data.payload}`)).toEqual(
      ['published:p1', 'subscribed:s1', 'message:2', 'message:3', 'pong:q1'],
    );
  });

  it('writes the topics an `auth` drops, then `authenticated`, after the earlier publish’s reply', async () => {
    const client = await app.connect('ada', ['admin']);
    await client.request('subscribe', { topics: ['ops'] });
    const held = subscriptions();
    holdOffsets();
    client.send('publish', { topic: 'feed', type: 'said', payload: 'hi', ref: 'p2' });
    client.send('auth', { token: app.token('ada'), ref: 'a1' });
    // The auth has run (the topic is dropped); its frames wait for the publish's reply.
    await waitUntil(() => subscriptions() === held - 1, 5_000, 'the auth to drop ops');
    releaseOffsets();
    await client.waitFor((f) => f.data?.ref === 'a1');

    const replies = client.frames.slice(2).map((f) => `${f.event}:${f.data.ref ?? ''}`);
    expect(replies).toEqual(['published:p2', 'unsubscribed:', 'authenticated:a1']);
    expect(client.frames[3].data).toEqual({ topics: ['ops'] });
  });
});
