import { Injectable } from '@nestjs/common';
import { CloseCode, RealtimeLifecycleService, type TopicAuthorizer } from '@nest-realtime/server';
import { LibraryApp } from '../support/library-app';
import { TestRedis } from '../support/redis-server';
import { waitUntil, within } from '../support/waits';

/** Grants every publish and counts them: once one is authorized, its engine call is issued. */
@Injectable()
class PublishProbe implements TopicAuthorizer {
  authorized = 0;

  authorize(): boolean {
    this.authorized++;
    return true;
  }
}

/** Longer than any test: Redis holds the app's writes until the test lets them through. */
const HOLD_WRITES_MS = '60000';

/**
 * PROTOCOL.md §6 (1001, 1012) with the rule that every frame the server
 * decided to send goes out before its close: a publish whose engine call is
 * out when shutdown starts still gets its `published` before the close frame.
 * Without it the client cannot tell the publish happened, and publishes again
 * after reconnecting. Redis is made to hold the call (CLIENT PAUSE WRITE)
 * until the drain has decided every close, so the reply can only come after.
 */
describe('shutdown with replies still owed (redis engine)', () => {
  let redis: TestRedis;
  let apps = 0;

  beforeAll(async () => {
    redis = await TestRedis.start();
  });

  afterAll(async () => {
    await redis.stop();
  });

  const startApp = (graceMs: number): Promise<LibraryApp> =>
    LibraryApp.start({
      realtime: {
        redis: { url: redis.url, keyPrefix: `owed${++apps}:` },
        engine: { type: 'redis' },
        topics: { feed: { subscribe: 'public', publish: { authorizer: PublishProbe } } },
        shutdown: { closeCode: CloseCode.GoingAway, graceMs },
      },
      providers: [PublishProbe],
    });

  /** Sends a publish that Redis holds, and resolves once its engine call is issued. */
  async function publishHeldByRedis(app: LibraryApp) {
    const client = await app.connect('ada');
    await redis.command('CLIENT', 'PAUSE', HOLD_WRITES_MS, 'WRITE');
    client.send('publish', { topic: 'feed', type: 'said', payload: 'hi', ref: 'p1' });
    const probe = app.app.get(PublishProbe);
    await waitUntil(() => probe.authorized === 1, 5_000, 'the publish to be authorized');
    return client;
  }

  it.each([CloseCode.GoingAway, CloseCode.ServiceRestart])(
    'drain(%i) writes the `published` of a publish waiting for Redis before the close frame',
    async (code) => {
      const app = await startApp(10_000);
      try {
        const client = await publishHeldByRedis(app);
        // drain() decides every close before it first waits: Redis answers only after that.
        const draining = app.app.get(RealtimeLifecycleService).drain(code);
        await redis.command('CLIENT', 'UNPAUSE');
        await within(draining, 10_000, 'drain');

        expect((await client.closed).code).toBe(code);
        expect(client.frames.map((f) => f.event)).toEqual(['connected', 'published']);
        expect(client.frames[1].data).toEqual({ ref: 'p1', offset: expect.any(String) });
      } finally {
        await redis.command('CLIENT', 'UNPAUSE');
        await app.stop();
      }
    },
  );

  it('closes a connection whose reply does not come within the grace, with a close frame', async () => {
    const app = await startApp(1_000);
    try {
      const client = await publishHeldByRedis(app);
      // Redis never answers during the test: the grace, not the reply, ends the wait.
      await within(app.app.get(RealtimeLifecycleService).drain(), 10_000, 'drain');

      expect((await within(client.closed, 10_000, 'the close')).code).toBe(
        CloseCode.ServiceRestart,
      );
      expect(client.frames.map((f) => f.event)).toEqual(['connected']);
    } finally {
      await redis.command('CLIENT', 'UNPAUSE');
      await app.stop();
    }
  });
});
