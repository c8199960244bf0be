import { Injectable } from '@nestjs/common';
import { BroadcastService, type TopicAuthorizer } from '@nest-realtime/server';
import { naturalCompare } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import { enginesUnderTest } from '../offline/offline-engines';

const PUBLISHES = 60;
/** Every this-many-th publish is malformed (no `type`): its error keeps its place among the replies. */
const MALFORMED_EVERY = 10;

/** Grants every publish and notes how many publishes had completed when each was authorized. */
@Injectable()
class PublishProbe implements TopicAuthorizer {
  readonly completedAtAuthorize: number[] = [];

  constructor(private readonly broadcasts: BroadcastService) {}

  authorize(): boolean {
    this.completedAtAuthorize.push(this.broadcasts.stats().counters.published as number);
    return true;
  }
}

/**
 * A client's publishes start in request order and are answered in request
 * order; in Redis mode the next one starts as soon as the previous one's
 * engine call is issued, so a burst shares Redis round trips.
 */
describe.each(enginesUnderTest())(
  'a burst of publishes from one client ($name engine)',
  (engine) => {
    let app: LibraryApp;

    beforeAll(async () => {
      app = await LibraryApp.start({
        realtime: {
          ...(await engine.options()),
          topics: { feed: { subscribe: 'public', publish: { authorizer: PublishProbe } } },
        },
        providers: [PublishProbe],
      });
    });

    afterAll(async () => {
      await app.stop();
      await engine.stop();
    });

    it('answers in request order, offsets and deliveries in publish order', async () => {
      const subscriber = await app.connect();
      await subscriber.request('subscribe', { topics: ['feed'] });
      const publisher = await app.connect('ada');
      for (let n = 0; n < PUBLISHES; n++) {
        const malformed = n % MALFORMED_EVERY === MALFORMED_EVERY - 1;
        publisher.send('publish', {
          topic: 'feed',
          ...(malformed ? {} : { type: 'tick' }),
          payload: { n },
          ref: `p${n}`,
        });
      }
      await publisher.waitFor((f) => f.data?.ref === `p${PUBLISHES - 1}`);

      const replies = publisher.frames.slice(1);
      expect(replies.map((f) => f.data.ref)).toEqual(
        Array.from({ length: PUBLISHES }, (_, n) => `p${n}`),
      );
      const published = replies.filter((f) => f.event === 'published');
      const refused = replies.filter((f) => f.event === 'error');
      expect(refused.map((f) => f.data.code)).toEqual(
        Array<string>(PUBLISHES / MALFORMED_EVERY).fill('BAD_REQUEST'),
      );
      const offsets = published.map((f) => f.data.offset as string);
      expect([...offsets].sort(naturalCompare)).toEqual(offsets);
      expect(new Set(offsets).size).toBe(offsets.length);

      await subscriber.waitFor(() => subscriber.messages('feed').length === published.length);
      const delivered = subscriber.messages('feed');
      expect(delivered.map((m) => m.offset)).toEqual(offsets);
      expect(delivered.map((m) => (m.payload as { n: number }).n)).toEqual(
        published.map((f) => Number((f.data.ref as string).slice(1))),
      );
    });

    if (engine.name === 'redis') {
      it('starts the next publish while the previous one waits for Redis', async () => {
        const probe = app.app.get(PublishProbe);
        probe.completedAtAuthorize.length = 0;
        const publisher = await app.connect('bob');
        for (let n = 0; n < 5; n++) {
          publisher.send('publish', { topic: 'feed', type: 'tick', payload: { n }, ref: `q${n}` });
        }
        await publisher.waitFor((f) => f.data?.ref === 'q4');
        const [first, second] = probe.completedAtAuthorize;
        // The second publish was authorized before the first one's offset came back from Redis.
        expect(second).toBe(first);
      });
    }
  },
);
