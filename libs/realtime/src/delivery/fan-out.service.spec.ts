import type WebSocket from 'ws';
import { ANONYMOUS } from '../auth/principal';
import { MemoryEngine } from '../engine/memory.engine';
import { RealtimeCounters } from '../metrics/realtime-counters';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { Connection } from '../registry/connection';
import { ConnectionRegistry } from '../registry/connection.registry';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import { openSocketPairs } from '../../test/socket-pair';
import { FanOutService } from './fan-out.service';
import { SocketWriter } from '../transport/socket-writer.service';

describe('FanOutService', () => {
  const recipients = 25;
  let pairs: Awaited<ReturnType<typeof openSocketPairs>>;
  let engine: MemoryEngine;
  let counters: RealtimeCounters;

  beforeAll(async () => {
    pairs = await openSocketPairs(recipients);
    const options = resolveRealtimeOptions({ topics: { news: { subscribe: 'public' } } });
    engine = new MemoryEngine({
      history: { size: 10, maxBytes: 1_000_000, ttlMs: 60_000 },
      maxHistoryTopics: 10,
    });
    counters = new RealtimeCounters();
    const connections = new ConnectionRegistry();
    const subscriptions = new SubscriptionRegistry();
    pairs.server.forEach((socket, i) => {
      const connection = new Connection(`c${i}`, socket, '127.0.0.1', ANONYMOUS);
      connections.add(connection);
      subscriptions.add(connection, 'news');
    });
    const writer = new SocketWriter(options, counters);
    const revocations = { apply: () => [] };
    new FanOutService(
      engine,
      subscriptions,
      connections,
      writer,
      revocations,
      counters,
    ).onModuleInit();
  });

  afterAll(() => pairs.close());

  it('serializes a publish once, whatever the number of recipients, and every recipient gets the same frame', async () => {
    const received = pairs.clients.map(
      (client: WebSocket) =>
        new Promise<string>((resolve) =>
          client.once('message', (data) => resolve((data as Buffer).toString())),
        ),
    );
    const stringify = jest.spyOn(JSON, 'stringify');
    const payload = { title: 'hello' };
    try {
      await engine.publish('news', 'headline', payload);
      // Once, into the frame, which history keeps and counts too; never once per recipient.
      expect(stringify.mock.calls.filter(([value]) => value === payload)).toHaveLength(1);
      expect(stringify.mock.calls.length).toBeLessThan(recipients);
    } finally {
      stringify.mockRestore();
    }
    const frames = await Promise.all(received);
    expect(new Set(frames).size).toBe(1);
    expect(JSON.parse(frames[0])).toEqual({
      event: 'message',
      data: {
        topic: 'news',
        type: 'headline',
        payload: { title: 'hello' },
        offset: expect.stringMatching(/^\d+-1$/),
        ts: expect.any(Number),
      },
    });
    expect(counters.delivered).toBe(recipients);
  });

  it('coalesces a burst to one socket into the same turn and keeps order', async () => {
    const client = pairs.clients[0];
    const got: number[] = [];
    const done = new Promise<void>((resolve) =>
      client.on('message', (data) => {
        got.push(
          (JSON.parse((data as Buffer).toString()) as { data: { payload: number } }).data.payload,
        );
        if (got.length === 50) resolve();
      }),
    );
    for (let i = 0; i < 50; i++) void engine.publish('news', 'n', i);
    await done;
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
