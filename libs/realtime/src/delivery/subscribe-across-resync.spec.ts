import type WebSocket from 'ws';
import { TestRedis } from '../../../../test/support/redis-server';
import { TcpProxy } from '../../../../test/support/tcp-proxy';
import { waitUntil } from '../../../../test/support/waits';
import { ANONYMOUS } from '../auth/principal';
import { MemoryEngine } from '../engine/memory.engine';
import type { PublishedMessage, RealtimeEngine, Recovery } from '../engine/realtime-engine.port';
import { RedisEngine } from '../engine/redis/redis.engine';
import { RealtimeCounters } from '../metrics/realtime-counters';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { frame, ServerEvent } from '../protocol';
import { RedisConnections } from '../redis/redis-connections.service';
import { Connection } from '../registry/connection';
import { ConnectionRegistry } from '../registry/connection.registry';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import { openSocketPairs } from '../../test/socket-pair';
import { SubscriptionRules } from '../topics/subscription-rules';
import type { TopicAccessService } from '../topics/topic-access.service';
import { PendingReply } from '../transport/reply-queue';
import { SocketWriter } from '../transport/socket-writer.service';
import { FanOutService } from './fan-out.service';
import { SubscriptionService } from './subscription.service';

/** A frame as a client reads it. */
interface Received {
  event: string;
  data: {
    ref?: string;
    offset?: string;
    payload?: number;
    topics?: Array<{ topic: string; offset: string; recovered?: boolean }>;
  };
}

const HISTORY_SIZE = 3;
const options = resolveRealtimeOptions({ topics: { news: { subscribe: 'public' } } });

/** This node's delivery layer on `engine`: fan-out, subscriptions and one writer. */
function deliveryOn(engine: RealtimeEngine) {
  const counters = new RealtimeCounters();
  const registry = new SubscriptionRegistry();
  const writer = new SocketWriter(options, counters);
  const access = { maxPerConnection: () => undefined } as unknown as TopicAccessService;
  const fanOut = new FanOutService(
    engine,
    registry,
    new ConnectionRegistry(),
    writer,
    { apply: () => [] },
    counters,
  );
  fanOut.onModuleInit();
  const subscriptions = new SubscriptionService(
    engine,
    registry,
    access,
    new SubscriptionRules(options, access),
    writer,
  );
  return { fanOut, subscriptions, writer };
}

/** What one client socket reads, in order. */
function reader(client: WebSocket): Received[] {
  const received: Received[] = [];
  client.on('message', (data) => received.push(JSON.parse((data as Buffer).toString())));
  return received;
}

/** Resolves once the client has read the message published at `offset`. */
function readUpTo(received: Received[], offset: string): Promise<void> {
  return waitUntil(
    () => received.some((f) => f.event === 'message' && f.data.offset === offset),
    10_000,
    `the message at ${offset}`,
  );
}

/**
 * An earlier request of the connection whose reply is still on its way (a
 * publish waiting on Redis): whatever is requested after it answers after it.
 */
function earlierReplyPending(writer: SocketWriter, connection: Connection): () => void {
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => (answer = resolve));
  writer.request(connection, () =>
    Promise.resolve(
      new PendingReply(answered.then(() => frame(ServerEvent.Pong, { ref: 'p0', ts: 0 }))),
    ),
  );
  return answer;
}

/** Queues a subscribe; resolves once its recovery is answered (its reply may still wait its turn). */
function subscribe(
  writer: SocketWriter,
  subscriptions: SubscriptionService,
  connection: Connection,
  since: Record<string, string> | undefined,
  ref: string,
): Promise<void> {
  return new Promise((resolve) =>
    writer.request(connection, async () => {
      const reply = await subscriptions.commit(connection, ['news'], since, ref);
      resolve();
      return reply;
    }),
  );
}

/** The server's announcement that the topic lost messages up to `offset` (no `ref`). */
const announcement = (offset: string): Received => ({
  event: 'subscribed',
  data: { topics: [{ topic: 'news', offset, recovered: false }] },
});

const message = ({ offset }: PublishedMessage, payload: number): Received => ({
  event: 'message',
  data: expect.objectContaining({ offset, payload }) as Received['data'],
});

describe('a subscribe whose reply waits while the engine resyncs the topic (Redis)', () => {
  let redis: TestRedis;
  let proxy: TcpProxy;
  let pairs: Awaited<ReturnType<typeof openSocketPairs>>;
  const opened: Array<{ engine: RedisEngine; connections: RedisConnections }> = [];

  beforeAll(async () => {
    redis = await TestRedis.start();
    proxy = await TcpProxy.start(redis.port);
    pairs = await openSocketPairs(3);
  });
  afterAll(async () => {
    for (const { engine, connections } of opened) {
      await engine.close();
      await connections.onApplicationShutdown();
    }
    await pairs.close();
    await proxy.stop();
    await redis.stop();
  });

  function redisEngine(url: string): RedisEngine {
    const connections = new RedisConnections(
      resolveRealtimeOptions({ redis: { url, keyPrefix: 'resync:' } }),
    );
    const engine = new RedisEngine(connections, {
      history: { size: HISTORY_SIZE, maxBytes: 10_000, ttlMs: 60_000 },
      maxHistoryTopics: 10,
      maxRevocations: 100,
    });
    opened.push({ engine, connections });
    return engine;
  }

  it('tells it the loss after its reply (recovered: true never followed by a silent gap), as it tells the topic’s holders', async () => {
    // This node reaches Redis through the proxy, so that it alone can be cut off; the publisher does not.
    const publisher = redisEngine(redis.url);
    publisher.attach({
      deliver: () => undefined,
      execute: () => undefined,
      resync: () => undefined,
    });
    await publisher.start();
    const engine = redisEngine(`redis://127.0.0.1:${proxy.port}`);
    const { subscriptions, writer } = deliveryOn(engine);
    await engine.start();
    const [holder, recovering, fresh] = pairs.server.map(
      (socket, i) => new Connection(`c${i}`, socket, '127.0.0.1', ANONYMOUS),
    );
    const [heldFrames, recoveringFrames, freshFrames] = pairs.clients.map(reader);

    await subscribe(writer, subscriptions, holder, undefined, 'h');
    const published: PublishedMessage[] = [];
    for (let i = 1; i <= 5; i++) published.push(await publisher.publish('news', 'n', i));
    await readUpTo(heldFrames, published[4].offset);

    // Both subscribes are answered by the engine, but their replies wait behind earlier ones.
    const answerRecovering = earlierReplyPending(writer, recovering);
    const answerFresh = earlierReplyPending(writer, fresh);
    await subscribe(writer, subscriptions, recovering, { news: published[4].offset }, 'r');
    await subscribe(writer, subscriptions, fresh, undefined, 'f');

    // Cut off while more than the history holds is published: the node resyncs the topic.
    proxy.cut();
    await waitUntil(() => engine['synced'] === false, 10_000, 'the cut');
    let lost!: PublishedMessage;
    for (let i = 6; i <= 6 + HISTORY_SIZE; i++) lost = await publisher.publish('news', 'n', i);
    proxy.restore();
    await waitUntil(() => engine['synced'] === true, 10_000, 'the catch-up');

    answerRecovering();
    answerFresh();
    const next = await publisher.publish('news', 'n', 100);
    await Promise.all(
      [heldFrames, recoveringFrames, freshFrames].map((f) => readUpTo(f, next.offset)),
    );

    expect(heldFrames.slice(-2)).toEqual([announcement(lost.offset), message(next, 100)]);
    expect(recoveringFrames).toEqual([
      { event: 'pong', data: { ref: 'p0', ts: 0 } },
      {
        event: 'subscribed',
        data: {
          ref: 'r',
          topics: [{ topic: 'news', offset: published[4].offset, recovered: true }],
        },
      },
      announcement(lost.offset),
      message(next, 100),
    ]);
    expect(freshFrames).toEqual([
      { event: 'pong', data: { ref: 'p0', ts: 0 } },
      {
        event: 'subscribed',
        data: { ref: 'f', topics: [{ topic: 'news', offset: published[4].offset }] },
      },
      announcement(lost.offset),
      message(next, 100),
    ]);
    expect(recovering.recovering).toBeUndefined();
    expect(fresh.recovering).toBeUndefined();
  });
});

/**
 * The memory engine, answering recoveries only when the test says so (as a
 * networked engine would, later): with `readsFirst`, from a read made when
 * asked (before whatever happens meanwhile), else from a read made then.
 */
class LateRecoveryEngine extends MemoryEngine {
  private gates: Array<() => void> = [];
  private answering = false;
  readsFirst = false;

  override async recover(topic: string, since: string | undefined): Promise<Recovery> {
    const read = this.readsFirst ? await super.recover(topic, since) : undefined;
    if (!this.answering) await new Promise<void>((resolve) => this.gates.push(resolve));
    return read ?? super.recover(topic, since);
  }

  get waiting(): boolean {
    return this.gates.length > 0;
  }

  /** Answers the recoveries asked so far and every later one. */
  answer(): void {
    this.answering = true;
    this.gates.splice(0).forEach((open) => open());
  }
}

describe('a subscribe whose recovery is still running while the engine resyncs the topic', () => {
  let pairs: Awaited<ReturnType<typeof openSocketPairs>>;
  let engine: LateRecoveryEngine;
  let delivery: ReturnType<typeof deliveryOn>;
  let connection: Connection;
  let received: Received[];

  beforeEach(async () => {
    pairs = await openSocketPairs(1);
    engine = new LateRecoveryEngine({
      history: { size: 100, maxBytes: 1_000_000, ttlMs: 60_000 },
      maxHistoryTopics: 10,
    });
    delivery = deliveryOn(engine);
    connection = new Connection('c', pairs.server[0], '127.0.0.1', ANONYMOUS);
    received = reader(pairs.clients[0]);
  });
  afterEach(() => pairs.close());

  /** Subscribes with `since`; resolves once its recovery is asked for, to the end of its commit. */
  async function subscribeFrom(since: PublishedMessage): Promise<{ committed: Promise<void> }> {
    const { subscriptions, writer } = delivery;
    const committed = subscribe(writer, subscriptions, connection, { news: since.offset }, 's');
    await waitUntil(() => engine.waiting, 5_000, 'the recovery');
    return { committed };
  }

  /** Publishes while this node is cut off from the engine (its messages never reach it), then resyncs as the engine would. */
  async function loseAndResync(count: number): Promise<PublishedMessage> {
    engine.attach({ deliver: () => undefined, execute: () => undefined, resync: () => undefined });
    let lost!: PublishedMessage;
    for (let i = 0; i < count; i++) lost = await engine.publish('news', 'lost', i);
    engine.attach(delivery.fanOut);
    delivery.fanOut.resync('news', lost.offset);
    return lost;
  }

  it('is told of the loss after its reply when its recovery read history before it', async () => {
    engine.readsFirst = true;
    const first = await engine.publish('news', 'n', 1);
    const { committed } = await subscribeFrom(first);
    const lost = await loseAndResync(2);
    engine.answer();
    await committed;
    const next = await engine.publish('news', 'n', 2);
    await readUpTo(received, next.offset);

    expect(received).toEqual([
      {
        event: 'subscribed',
        data: { ref: 's', topics: [{ topic: 'news', offset: first.offset, recovered: true }] },
      },
      announcement(lost.offset),
      message(next, 2),
    ]);
  });

  it('is not told when its recovery read a head past the loss, and gets no message twice', async () => {
    const first = await engine.publish('news', 'n', 1);
    const { committed } = await subscribeFrom(first);
    await engine.publish('news', 'n', 2);
    await loseAndResync(1);
    await engine.publish('news', 'n', 3);
    engine.answer();
    await committed;
    const next = await engine.publish('news', 'n', 4);
    await readUpTo(received, next.offset);

    expect(received[0]).toMatchObject({
      event: 'subscribed',
      data: { ref: 's', topics: [{ topic: 'news', recovered: true }] },
    });
    // The lost message is in the memory engine's history: the recovery, read after it, replays it.
    expect(received.slice(1).map((f) => [f.event, f.data.payload])).toEqual([
      ['message', 2],
      ['message', 0],
      ['message', 3],
      ['message', 4],
    ]);
  });
});
