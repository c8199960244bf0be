import { Test, type TestingModule } from '@nestjs/testing';
import type WebSocket from 'ws';
import { openSocketPairs } from '../../test/socket-pair';
import type { Principal } from '../auth/principal';
import { Connection } from '../registry/connection';
import { ConnectionRegistry } from '../registry/connection.registry';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import { RealtimeModule } from '../realtime.module';
import { MemoryPresenceStore } from './memory-presence.store';
import { PRESENCE_STORE } from './presence.constants';
import type { PresenceChanges } from './presence-store.port';
import { PresenceTracker } from './presence.tracker';

/** The memory store, whose log reads fail while `down` (a Redis store's while Redis is away). */
class FlakyPresenceStore extends MemoryPresenceStore {
  down = false;

  override changes(
    topic: string,
    cursor: string | undefined,
    now: number,
  ): Promise<PresenceChanges> {
    if (this.down) return Promise.reject(new Error('presence store unavailable'));
    return super.changes(topic, cursor, now);
  }
}

function user(userId: string): Principal {
  return { userId, roles: [], tokenId: undefined, expiresAt: null, issuedAt: undefined };
}

/** The first frame any of the clients receives (a bounded wait: none is a failure, not a hang). */
function firstFrame(clients: readonly WebSocket[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frame within 5 s')), 5_000);
    for (const client of clients) {
      client.once('message', (data: Buffer) => {
        clearTimeout(timer);
        resolve(JSON.parse(data.toString()));
      });
    }
  });
}

describe('PresenceTracker', () => {
  let moduleRef: TestingModule;
  let pairs: Awaited<ReturnType<typeof openSocketPairs>>;

  afterEach(async () => {
    await pairs.close();
    await moduleRef.close();
  });

  it("sends diffs once the store is back when a topic's first log read failed", async () => {
    const store = new FlakyPresenceStore(256);
    moduleRef = await Test.createTestingModule({
      imports: [
        RealtimeModule.forRoot({
          topics: { chat: { subscribe: 'public', presence: { joinLeave: true } } },
        }),
      ],
    })
      .overrideProvider(PRESENCE_STORE)
      .useValue(store)
      .compile();
    const tracker = moduleRef.get(PresenceTracker);
    const connections = moduleRef.get(ConnectionRegistry);
    const subscriptions = moduleRef.get(SubscriptionRegistry);
    pairs = await openSocketPairs(3);
    const [watcher, ...joiners] = pairs.server.map(
      (socket, i) => new Connection(`c${i}`, socket, '127.0.0.1', user(`u${i}`)),
    );
    const received = firstFrame(pairs.clients);

    connections.add(watcher);
    subscriptions.add(watcher, 'chat:room');
    store.down = true;
    tracker.watch(watcher, ['chat:room']);
    await tracker.diff();
    store.down = false;
    // The round after the store is back reads where the log is; the one after sends what came since.
    await tracker.diff();
    for (const joiner of joiners) {
      connections.add(joiner);
      subscriptions.add(joiner, 'chat:room');
    }
    await tracker.diff();

    expect(await received).toEqual({
      event: 'presence_diff',
      data: { topic: 'chat:room', joined: ['u1', 'u2'], left: [], connections: 3, users: 3 },
    });
  });
});
