import { BroadcastService } from '@nest-realtime/server';
import { expectNothingSince } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import { TestRedis } from '../support/redis-server';

/**
 * Two apps on one redis-server, each in a database of its own, both with the
 * default key prefix: keys are apart by the database, and channels (which a
 * database does not separate) by the database number they carry.
 */
describe('two apps on one Redis, in databases 2 and 3', () => {
  let redis: TestRedis;
  let first: LibraryApp;
  let second: LibraryApp;

  const start = (db: number) =>
    LibraryApp.start({
      realtime: {
        redis: { url: `${redis.url}/${db}` },
        topics: { chat: { subscribe: 'authenticated' } },
      },
    });

  beforeAll(async () => {
    redis = await TestRedis.start();
    [first, second] = [await start(2), await start(3)];
  });
  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await redis?.stop();
  });

  it('hear only their own publishes, broadcasts, user messages and disconnects', async () => {
    const mine = await first.connect('alice');
    const theirs = await second.connect('alice');
    for (const client of [mine, theirs]) {
      expect((await client.request('subscribe', { topics: ['chat:lobby'] })).event).toBe(
        'subscribed',
      );
    }
    const mark = theirs.frames.length;
    const realtime = first.app.get(BroadcastService);
    await realtime.publish('chat:lobby', 'said', { text: 'hi' });
    await realtime.broadcast('maintenance', {});
    await realtime.sendToUser('alice', 'notice', {});
    for (const type of ['said', 'maintenance', 'notice']) {
      await mine.waitFor((f) => f.event === 'message' && f.data.type === type);
    }
    await realtime.disconnectUser('alice');
    expect((await mine.closed).code).toBe(4003);
    await expectNothingSince(theirs, mark);
    expect(theirs.isOpen).toBe(true);
  });
});
