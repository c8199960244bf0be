import { BroadcastService, CloseCode } from '@nest-realtime/server';
import { type DirectMessage, RealtimeClient } from '@nest-realtime/client';
import WebSocket from 'ws';
import { DemoApp } from '../support/demo-app';
import { sleep, waitUntil } from '../support/waits';

/**
 * Offline messages (PROTOCOL.md §2 `ack`, §5, §7 `POST /admin/notify`) through
 * RealtimeClient against the demo app: delivered on connect, acknowledged by
 * the client, a redelivery dropped by id, and not sent again once acked.
 */
describe('RealtimeClient offline messages', () => {
  let demo: DemoApp;
  let bob: RealtimeClient | undefined;

  beforeEach(async () => {
    demo = await DemoApp.start();
  });

  afterEach(async () => {
    bob?.close();
    await demo.stop();
  });

  it('delivers a message sent while the user was away, acks it, and drops its redelivery', async () => {
    const admin = await demo.token('ops', ['admin']);
    const notified = await demo.http(
      'POST',
      '/admin/notify',
      { userId: 'bob', message: 'parcel shipped' },
      admin,
    );
    expect(notified.status).toBe(202);
    const { id } = notified.body as { id: string };

    // The ack waits a second (batching): the connection is dropped before it goes
    // out, so the server still owes the message at the next connection.
    bob = new RealtimeClient({
      url: demo.wsUrl(),
      WebSocket,
      getToken: () => demo.token('bob'),
      ackDelayMs: 1_000,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    const delivered: DirectMessage[] = [];
    bob.on('user-message', (message) => delivered.push(message));
    bob.connect();
    await waitUntil(() => delivered.length === 1, 5_000, 'offline message');
    expect(delivered[0]).toMatchObject({
      topic: '$user',
      type: 'notification',
      payload: { message: 'parcel shipped' },
      id,
    });
    expect(bob.stats.acked).toBe(0);

    await demo.app.get(BroadcastService).disconnectUser('bob', CloseCode.ServiceRestart);
    // Reconnected: the unacked message comes again (same id) and is dropped; then the ack goes out.
    await waitUntil(() => bob!.stats.duplicatesDropped === 1, 5_000, 'redelivery dropped');
    expect(bob.stats.acked).toBe(0);
    await waitUntil(() => bob!.stats.acked === 1, 5_000, 'acked');
    expect(delivered).toHaveLength(1);

    // Acknowledged: a new connection of bob's is not sent it again.
    const raw = await demo.connect({ token: await demo.token('bob') });
    await sleep(500);
    expect(raw.frames.filter((frame) => frame.data.topic === '$user')).toEqual([]);
  });
});
