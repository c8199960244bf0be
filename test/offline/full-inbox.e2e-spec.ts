import { BroadcastService, OfflineInboxFullError } from '@nest-realtime/server';
import { barrier } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import type { TestClient } from '../support/ws-client';
import { enginesUnderTest } from './offline-engines';

/**
 * The default inbox (`offline.maxMessagesPerUser`) holds as many messages as
 * the default outbound bound (`limits.maxQueuedMessages`) lets wait: both 100.
 */
const FULL_INBOX = 100;

/**
 * A user whose inbox is full connects: `connected` and every retained message
 * go out in the handshake's turn where the store answers at once (memory
 * mode). That burst passes the outbound bound of a client that reads, and
 * must not close it as a slow consumer: it would be closed with 4009 on every
 * connection, and its inbox could never be drained.
 */
describe.each(enginesUnderTest())('a full offline inbox at connect ($name engine)', (engine) => {
  let app: LibraryApp;
  let realtime: BroadcastService;
  let users = 0;
  const nextUser = () => `full-${engine.name}-${++users}`;

  beforeAll(async () => {
    // The defaults, on purpose: the inbox and the outbound bound as an app gets them.
    app = await LibraryApp.start({ realtime: await engine.options() });
    realtime = app.app.get(BroadcastService);
  });

  afterAll(async () => {
    await app.stop();
    await engine.stop();
  });

  async function fillInbox(userId: string): Promise<string[]> {
    const ids: string[] = [];
    for (let n = 0; n < FULL_INBOX; n++) {
      ids.push(await realtime.sendToUser(userId, 'note', { n }, { ttlSeconds: 600 }));
    }
    await expect(realtime.sendToUser(userId, 'note', {}, { ttlSeconds: 600 })).rejects.toThrow(
      OfflineInboxFullError,
    );
    return ids;
  }

  /** How the connection's delivery of the inbox ended: every id arrived, or the socket closed. */
  function deliveryOf(client: TestClient, ids: string[]): Promise<string> {
    const last = ids[ids.length - 1];
    return Promise.race([
      client.waitFor((f) => f.data?.id === last).then(() => 'all delivered'),
      client.closed.then(({ code }) => `closed with ${code}`),
    ]);
  }

  it('sends every retained message after connected, on every connection, until acknowledged', async () => {
    const userId = nextUser();
    const ids = await fillInbox(userId);
    // Sent again on each new connection until acknowledged: the second one must not fail either.
    for (let round = 0; round < 2; round++) {
      const client = await app.connect(userId);
      expect(await deliveryOf(client, ids)).toBe('all delivered');
      await barrier(client);
      expect(client.frames[0].event).toBe('connected');
      expect(client.messages('$user').map((m) => m.id)).toEqual(ids);
      expect(client.isOpen).toBe(true);
      await client.close();
    }
    const drainer = await app.connect(userId);
    await drainer.waitFor((f) => f.data?.id === ids[ids.length - 1]);
    expect((await drainer.request('ack', { ids })).event).toBe('acked');
    await drainer.close();
    const after = await app.connect(userId);
    await barrier(after);
    expect(after.messages('$user')).toEqual([]);
  });
});
