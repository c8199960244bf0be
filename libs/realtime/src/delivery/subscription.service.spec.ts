import type WebSocket from 'ws';
import { ANONYMOUS } from '../auth/principal';
import { MemoryEngine } from '../engine/memory.engine';
import type { Recovery } from '../engine/realtime-engine.port';
import { RealtimeCounters } from '../metrics/realtime-counters';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { Connection } from '../registry/connection';
import { ConnectionRegistry } from '../registry/connection.registry';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import { openSocketPairs } from '../../test/socket-pair';
import { SubscriptionRules } from '../topics/subscription-rules';
import type { TopicAccessService } from '../topics/topic-access.service';
import { FanOutService } from './fan-out.service';
import { frame, ServerEvent } from '../protocol';
import { PendingReply } from '../transport/reply-queue';
import { SocketWriter } from '../transport/socket-writer.service';
import { SubscriptionService } from './subscription.service';

/** The memory engine, answering recoveries only when the test says so (as a networked engine would, later). */
class SlowRecoveryEngine extends MemoryEngine {
  private gates: Array<() => void> = [];
  private answering = false;

  override async recover(topic: string, since: string | undefined): Promise<Recovery> {
    if (!this.answering) await new Promise<void>((resolve) => this.gates.push(resolve));
    return super.recover(topic, since);
  }

  /** Answers the recoveries asked so far and every later one. */
  answer(): void {
    this.answering = true;
    this.gates.splice(0).forEach((open) => open());
  }
}

describe('SubscriptionService with an engine that answers recovery late', () => {
  let pairs: Awaited<ReturnType<typeof openSocketPairs>>;
  let engine: SlowRecoveryEngine;
  let subscriptions: SubscriptionService;
  let connection: Connection;
  let registry: SubscriptionRegistry;
  let writer: SocketWriter;

  beforeAll(async () => {
    pairs = await openSocketPairs(1);
    const options = resolveRealtimeOptions({ topics: { news: { subscribe: 'public' } } });
    engine = new SlowRecoveryEngine({
      history: { size: 100, maxBytes: 1_000_000, ttlMs: 60_000 },
      maxHistoryTopics: 10,
    });
    const counters = new RealtimeCounters();
    const connections = new ConnectionRegistry();
    registry = new SubscriptionRegistry();
    writer = new SocketWriter(options, counters);
    connection = new Connection('c', pairs.server[0], '127.0.0.1', ANONYMOUS);
    connections.add(connection);
    const access = { maxPerConnection: () => undefined } as unknown as TopicAccessService;
    subscriptions = new SubscriptionService(
      engine,
      registry,
      access,
      new SubscriptionRules(options, access),
      writer,
    );
    new FanOutService(
      engine,
      registry,
      connections,
      writer,
      { apply: () => [] },
      counters,
    ).onModuleInit();
  });

  afterAll(() => pairs.close());

  it('sends subscribed, the missed messages, then the ones published meanwhile: no gap, no duplicate', async () => {
    const client: WebSocket = pairs.clients[0];
    const received: Array<{ event: string; data: { payload?: number; ref?: string } }> = [];
    client.on('message', (data) => received.push(JSON.parse((data as Buffer).toString())));

    const first = await engine.publish('news', 'n', 1);
    await engine.publish('news', 'n', 2);
    await engine.publish('news', 'n', 3);
    // An earlier request whose reply comes last: the subscribe's reply must wait for it.
    let answerEarlier!: () => void;
    const earlier = new Promise<void>((resolve) => (answerEarlier = resolve));
    writer.request(connection, () =>
      Promise.resolve(
        new PendingReply(earlier.then(() => frame(ServerEvent.Pong, { ref: 'p0', ts: 0 }))),
      ),
    );
    const committed = new Promise<void>((resolve) =>
      writer.request(connection, async () => {
        const reply = await subscriptions.commit(
          connection,
          ['news'],
          { news: first.offset },
          's1',
        );
        resolve();
        return reply;
      }),
    );
    await engine.publish('news', 'n', 4); // registered already, recovery not answered yet
    await engine.publish('news', 'n', 5);
    engine.answer();
    await committed;
    await engine.publish('news', 'n', 6); // recovered, but its reply is not written yet
    answerEarlier();
    await engine.publish('news', 'n', 7);

    await new Promise<void>((resolve) => {
      const check = () => (received.length >= 8 ? resolve() : setTimeout(check, 10));
      check();
    });
    expect(received[0]).toMatchObject({ event: 'pong', data: { ref: 'p0' } });
    expect(received[1]).toMatchObject({
      event: 'subscribed',
      data: { ref: 's1', topics: [{ topic: 'news', recovered: true }] },
    });
    expect(received.slice(2).map((f) => f.data.payload)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(connection.recovering).toBeUndefined();
  });

  it('rolls a subscribe back when the engine cannot watch the topic, and reads no history', async () => {
    const watch = jest.spyOn(engine, 'watch').mockRejectedValueOnce(new Error('redis down'));
    const unwatch = jest.spyOn(engine, 'unwatch');
    const recover = jest.spyOn(engine, 'recover');
    await expect(subscriptions.commit(connection, ['sports'], undefined, 's2')).rejects.toThrow(
      'redis down',
    );
    expect(watch).toHaveBeenCalledWith('sports');
    expect(recover).not.toHaveBeenCalled();
    expect(unwatch).toHaveBeenCalledWith('sports');
    expect(connection.topics.has('sports')).toBe(false);
    expect(registry.subscribersOf('sports')).toBeUndefined();
    expect(connection.recovering).toBeUndefined();
    watch.mockRestore();
    unwatch.mockRestore();
    recover.mockRestore();
  });
});
