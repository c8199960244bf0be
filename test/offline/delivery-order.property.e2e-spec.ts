import { BroadcastService, CloseCode } from '@nest-realtime/server';
import fc from 'fast-check';
import { parseOffset } from '../../libs/realtime/src/engine/offset';
import { ConnectionRegistry } from '../../libs/realtime/src/registry/connection.registry';
import { SocketWriter } from '../../libs/realtime/src/transport/socket-writer.service';
import { barrier } from '../support/frame-helpers';
import { LibraryApp } from '../support/library-app';
import type { Frame, TestClient } from '../support/ws-client';
import { enginesUnderTest } from './offline-engines';

const HISTORY_SIZE = 4;
const SUBSCRIBERS = 3;

type Step =
  | { kind: 'publish'; via: number; count: number }
  | { kind: 'connect'; who: number; via: number; resume: boolean }
  | { kind: 'disconnect'; who: number }
  | { kind: 'slow-consumer-close'; who: number };

/** One subscriber across its sessions: what it saw last, and its open session if any. */
interface Subscriber {
  client?: TestClient;
  /** Index in client.frames of the session's `subscribed` reply. */
  from: number;
  /** The offset the next message must follow. */
  expected?: string;
  /** The last offset this subscriber saw, across sessions. */
  last?: string;
  connectionId?: string;
}

const steps = (instances: number): fc.Arbitrary<Step[]> =>
  fc.array(
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('publish' as const),
          via: fc.nat(instances - 1),
          count: fc.integer({ min: 1, max: 3 }),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('connect' as const),
          who: fc.nat(SUBSCRIBERS - 1),
          via: fc.nat(instances - 1),
          resume: fc.boolean(),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('disconnect' as const),
          who: fc.nat(SUBSCRIBERS - 1),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('slow-consumer-close' as const),
          who: fc.nat(SUBSCRIBERS - 1),
        }),
      },
    ),
    { minLength: 5, maxLength: 25 },
  );

/** `b` directly follows `a` in one topic's offsets (same epoch, next sequence). */
function follows(a: string, b: string): boolean {
  const [x, y] = [parseOffset(a), parseOffset(b)];
  return x !== undefined && y !== undefined && x.epoch === y.epoch && y.sequence === x.sequence + 1;
}

/**
 * PROTOCOL §5 as a property: under any interleaving of publishes (from any
 * instance), connects with and without `since`, client disconnects and
 * server-side 4009 closes, every subscriber sees each session's messages
 * with no gap, no duplicate and in offset order, continuing from its `since`
 * when the reply says `recovered: true` (and from the head otherwise).
 */
describe.each(enginesUnderTest())('delivery order property ($name engine)', (engine) => {
  let apps: LibraryApp[];
  let run = 0;
  /** Messages the property checked, over every run: proof that it looked at something. */
  let checked = 0;

  beforeAll(async () => {
    const options = await engine.options();
    const count = engine.name === 'redis' ? 2 : 1;
    apps = [];
    for (let i = 0; i < count; i++) {
      apps.push(
        await LibraryApp.start({
          realtime: {
            ...options,
            history: { size: HISTORY_SIZE },
            topics: { prop: { subscribe: 'public', publish: 'none' } },
          },
        }),
      );
    }
  });

  afterAll(async () => {
    for (const app of apps) await app.stop();
    await engine.stop();
  });

  /** Checks a session's frames so far: each message follows the one before it. */
  function check(subscriber: Subscriber, topic: string): void {
    const frames: Frame[] = subscriber.client!.frames.slice(subscriber.from + 1);
    for (const frame of frames) {
      if (frame.event !== 'message' || frame.data.topic !== topic) continue;
      const offset = frame.data.offset as string;
      if (!follows(subscriber.expected!, offset)) {
        throw new Error(`after ${subscriber.expected} came ${offset} (gap, duplicate or disorder)`);
      }
      subscriber.expected = offset;
      subscriber.last = offset;
      checked++;
    }
    subscriber.from = subscriber.client!.frames.length - 1;
  }

  async function end(
    subscriber: Subscriber,
    topic: string,
    how: 'disconnect' | 'slow-consumer-close',
  ) {
    const client = subscriber.client;
    if (!client) return;
    if (how === 'disconnect') {
      await client.close();
    } else {
      for (const app of apps) {
        const connections = [...app.app.get(ConnectionRegistry).all()];
        const connection = connections.find(({ id }) => id === subscriber.connectionId);
        if (connection) app.app.get(SocketWriter).close(connection, CloseCode.SlowConsumer, 1_000);
      }
      expect((await client.closed).code).toBe(CloseCode.SlowConsumer);
    }
    check(subscriber, topic);
    subscriber.client = undefined;
  }

  it('no gap, no duplicate, offset order, or an honest recovered: false', async () => {
    await fc.assert(
      fc.asyncProperty(steps(apps.length), async (plan) => {
        const topic = `prop:run${++run}`;
        const subscribers: Subscriber[] = Array.from({ length: SUBSCRIBERS }, () => ({ from: 0 }));
        let head: string | undefined;
        try {
          for (const step of plan) {
            if (step.kind === 'publish') {
              const service = apps[step.via].app.get(BroadcastService);
              for (let n = 0; n < step.count; n++) head = await service.publish(topic, 't', { n });
            } else if (step.kind === 'connect') {
              const subscriber = subscribers[step.who];
              if (subscriber.client) continue;
              const client = await apps[step.via].connect();
              const connected = client.frames.find((f) => f.event === 'connected')!;
              subscriber.connectionId = connected.data.connectionId as string;
              const since =
                step.resume && subscriber.last ? { [topic]: subscriber.last } : undefined;
              const reply = await client.request('subscribe', {
                topics: [topic],
                ...(since ? { since } : {}),
              });
              expect(reply.event).toBe('subscribed');
              const [state] = reply.data.topics as Array<{ offset: string; recovered?: boolean }>;
              subscriber.client = client;
              subscriber.from = client.frames.indexOf(reply);
              if (since) expect(typeof state.recovered).toBe('boolean');
              // Recovered: the replay continues from `since`. Otherwise: live messages follow the head.
              subscriber.expected = state.recovered === true ? subscriber.last : state.offset;
            } else {
              await end(subscribers[step.who], topic, step.kind);
            }
          }
          // Every open session ends having seen every message up to the last publish.
          for (const subscriber of subscribers) {
            if (!subscriber.client) continue;
            check(subscriber, topic);
            if (head !== undefined && subscriber.expected !== head) {
              await subscriber.client.waitFor(
                (f) => f.event === 'message' && f.data.topic === topic && f.data.offset === head,
                { from: subscriber.from, timeoutMs: 3_000 },
              );
            }
            await barrier(subscriber.client);
            check(subscriber, topic);
            if (head !== undefined) expect(subscriber.expected).toBe(head);
          }
        } finally {
          await Promise.all(subscribers.flatMap((s) => (s.client ? [s.client.close()] : [])));
        }
      }),
      { numRuns: engine.name === 'redis' ? 40 : 60 },
    );
    expect(checked).toBeGreaterThan(20);
  });
});
