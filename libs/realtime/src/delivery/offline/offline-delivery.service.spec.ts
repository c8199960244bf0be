import type { ModuleRef } from '@nestjs/core';
import { WebSocket } from 'ws';
import { MemoryEngine } from '../../engine/memory.engine';
import { EngineUnavailableError } from '../../engine/engine-unavailable.error';
import { contractHistory } from '../../engine/realtime-engine.contract-spec';
import { RealtimeCounters } from '../../metrics/realtime-counters';
import { resolveRealtimeOptions } from '../../options/resolve-options';
import { Connection } from '../../registry/connection';
import { SocketWriter } from '../../transport/socket-writer.service';
import { MemoryOfflineStore } from './memory-offline.store';
import type { DeadLetter, OfflineMessage, OfflineStats } from './offline-message';
import { OfflineDeliveryService } from './offline-delivery.service';
import type { OfflineJobHandlers, OfflineScheduler } from './offline-scheduler.port';
import {
  type InboxLimits,
  type OfflineStore,
  type RetainedMessage,
  retain,
  type StoredMessage,
} from './offline-store.port';

/** A scheduler whose backend (Redis, for Bull) is gone: every job it is asked to keep fails. */
class UnreachableScheduler implements OfflineScheduler {
  start(_handlers: OfflineJobHandlers): void {}
  handOver(_letter: DeadLetter): Promise<void> {
    return Promise.reject(new EngineUnavailableError('Redis connection is reconnecting'));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** An inbox in Redis that goes away right after it took a message: every later call fails. */
class InterruptedStore implements OfflineStore {
  private gone = false;

  constructor(
    readonly kept: MemoryOfflineStore,
    private readonly goneBeforeAdd = false,
  ) {}

  async add(message: RetainedMessage, limits: InboxLimits): Promise<StoredMessage> {
    if (this.goneBeforeAdd) this.gone = true;
    this.reachable();
    const stored = await this.kept.add(message, limits);
    this.gone = true;
    return stored;
  }
  pending(userId: string, now: number): Promise<OfflineMessage[]> {
    return this.reachable() ?? this.kept.pending(userId, now);
  }
  ack(userId: string, ids: readonly string[]): Promise<number> {
    return this.reachable() ?? this.kept.ack(userId, ids);
  }
  expire(userId: string, id: string, now: number, limit: number): Promise<DeadLetter | undefined> {
    return this.reachable() ?? this.kept.expire(userId, id, now, limit);
  }
  expireDue(now: number, limit: number, deadLetterLimit: number): Promise<DeadLetter[]> {
    return this.reachable() ?? this.kept.expireDue(now, limit, deadLetterLimit);
  }
  deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.reachable() ?? this.kept.deadLetters(limit);
  }
  stats(): Promise<OfflineStats> {
    return this.reachable() ?? this.kept.stats();
  }
  private reachable(): undefined {
    if (this.gone) throw new EngineUnavailableError('Redis connection is reconnecting');
    return undefined;
  }
}

/**
 * Found by the chaos run: a retained message stored while its expiry job
 * could not be (Redis lost between the two writes, or the instance killed)
 * waited forever for a user who never came back, never dead-lettered. Now a
 * message and its deadline are one write: either both are kept or neither.
 */
describe('OfflineDeliveryService.send', () => {
  it('keeps nothing when the inbox write fails, and schedules no job per message', async () => {
    const options = resolveRealtimeOptions();
    const store = new InterruptedStore(new MemoryOfflineStore(options.offline.maxUsers), true);
    const scheduler = new UnreachableScheduler();
    const engine = new MemoryEngine(contractHistory());
    const offline = new OfflineDeliveryService(
      store,
      scheduler,
      engine,
      options,
      new SocketWriter(options, new RealtimeCounters()),
      {} as ModuleRef,
    );

    await expect(offline.send('ann', 'notification', { n: 1 }, 60)).rejects.toThrow(
      EngineUnavailableError,
    );

    expect(await store.kept.stats()).toEqual({ pending: 0, delivered: 0, deadLettered: 0 });
    // With the inbox back, a kept message carries its own deadline: the sweep finds it.
    const kept = new MemoryOfflineStore(options.offline.maxUsers);
    const working = new OfflineDeliveryService(
      kept,
      scheduler,
      engine,
      options,
      new SocketWriter(options, new RealtimeCounters()),
      {} as ModuleRef,
    );
    await working.send('ann', 'notification', { n: 2 }, 0.001);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await kept.expireDue(Date.now(), 10, 10)).map((letter) => letter.reason)).toEqual([
      'expired',
    ]);
  });

  it('keeps a message that evicted another even when the eviction cannot be handed over', async () => {
    const options = resolveRealtimeOptions({
      offline: { maxMessagesPerUser: 1, whenFull: 'dead-letter-oldest' },
    });
    const kept = new MemoryOfflineStore(options.offline.maxUsers);
    const offline = new OfflineDeliveryService(
      kept,
      new UnreachableScheduler(),
      new MemoryEngine(contractHistory()),
      options,
      new SocketWriter(options, new RealtimeCounters()),
      {} as ModuleRef,
    );

    await offline.send('ann', 'notification', { n: 1 }, 60);
    await expect(offline.send('ann', 'notification', { n: 2 }, 60)).resolves.toEqual(
      expect.any(String),
    );

    expect(await kept.stats()).toEqual({ pending: 1, delivered: 0, deadLettered: 1 });
  });

  it("reads a new connection's inbox again when Redis failed it, and sends what waits", async () => {
    const options = resolveRealtimeOptions();
    const kept = new MemoryOfflineStore(options.offline.maxUsers);
    await kept.add(waiting('ann', 'm1'), inboxLimits(options));
    const store = new SlowToAnswerStore(kept, 2);
    const sent: Buffer[] = [];
    const offline = new OfflineDeliveryService(
      store,
      new UnreachableScheduler(),
      new MemoryEngine(contractHistory()),
      options,
      new SocketWriter(options, new RealtimeCounters()),
      {} as ModuleRef,
    );
    const socket = {
      readyState: WebSocket.OPEN,
      bufferedAmount: 0,
      send: (payload: Buffer) => sent.push(payload),
    };
    const connection = new Connection('c1', socket as unknown as WebSocket, '127.0.0.1', {
      userId: 'ann',
      roles: [],
      tokenId: undefined,
      expiresAt: null,
      issuedAt: undefined,
    });

    await offline.deliverPending(connection, 'ann');

    expect(store.failures).toBe(2);
    expect(
      sent.map((text) => (JSON.parse(String(text)) as { data: { id: string } }).data.id),
    ).toEqual(['m1']);
  });
});

/** A Redis inbox whose first `failing` reads time out (a loaded Redis), then answers. */
class SlowToAnswerStore extends InterruptedStore {
  failures = 0;

  constructor(
    kept: MemoryOfflineStore,
    private readonly failing: number,
  ) {
    super(kept);
  }

  override pending(userId: string, now: number): Promise<OfflineMessage[]> {
    if (this.failures < this.failing) {
      this.failures++;
      return Promise.reject(new EngineUnavailableError('Command timed out'));
    }
    return this.kept.pending(userId, now);
  }
}

function waiting(userId: string, id: string): RetainedMessage {
  const ts = Date.now();
  return retain({ id, userId, type: 'notification', payload: {}, ts, expiresAt: ts + 60_000 });
}

function inboxLimits(options: ReturnType<typeof resolveRealtimeOptions>): InboxLimits {
  const { maxMessagesPerUser, maxBytesPerUser, whenFull, deadLetterLimit } = options.offline;
  return { maxMessages: maxMessagesPerUser, maxBytes: maxBytesPerUser, whenFull, deadLetterLimit };
}
