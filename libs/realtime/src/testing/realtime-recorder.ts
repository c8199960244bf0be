import { Injectable } from '@nestjs/common';
import type {
  Broadcaster,
  PublishOptions,
  RealtimeStats,
  SendToUserOptions,
} from '../delivery/broadcaster.interface';
import type { DeadLetter, OfflineStats } from '../delivery/offline/offline-message';
import {
  assertCloseCode,
  assertPublishable,
  assertType,
  assertUserId,
} from '../delivery/publish-validation';
import type { EngineStats } from '../engine/realtime-engine.port';
import {
  CloseCode,
  type EventMap,
  type EventTypeOf,
  type PayloadOf,
  type TopicOf,
} from '../protocol';

export interface RecordedPublish {
  topic: string;
  type: string;
  payload: unknown;
  offset: string;
}

/** The engine a recorder reports: nothing carries its messages anywhere. */
const RECORDER = 'recorder';

/**
 * Stands in for BroadcastService in unit tests: records what domain code
 * published, sent and broadcast, applying the same topic and type rules,
 * with no socket or engine. It implements the whole Broadcaster interface,
 * so domain code that reads stats or dead letters works under test too.
 *
 * @publicApi
 */
@Injectable()
export class RealtimeRecorder<M extends EventMap = EventMap> implements Broadcaster<M> {
  readonly published: RecordedPublish[] = [];
  readonly sentToUsers: Array<{
    userId: string;
    type: string;
    payload: unknown;
    ttlSeconds?: number;
  }> = [];
  readonly broadcasts: Array<{ type: string; payload: unknown }> = [];
  readonly disconnectedUsers: Array<{ userId: string; code: number }> = [];
  /** What `deadLetters()` answers, newest first: a test puts here what its domain code should see. */
  readonly deadLettered: DeadLetter[] = [];
  private readonly idempotent = new Map<string, string>();

  /** With an idempotency key, a repeat records nothing and resolves to the first offset. */
  publish<T extends TopicOf<M>, E extends EventTypeOf<M, T>>(
    topic: T,
    type: E,
    payload: PayloadOf<M, T, E>,
    options?: PublishOptions,
  ): Promise<string> {
    assertPublishable(topic, type);
    const key = options?.idempotencyKey;
    const first = key === undefined ? undefined : this.idempotent.get(key);
    if (first !== undefined) return Promise.resolve(first);
    const offset = `0-${this.published.length + 1}`;
    this.published.push({ topic, type, payload, offset });
    if (key !== undefined) this.idempotent.set(key, offset);
    return Promise.resolve(offset);
  }

  /** With `ttlSeconds` (retained), resolves to the message's id, as BroadcastService does. */
  sendToUser(userId: string, type: string, payload: unknown): Promise<void>;
  sendToUser(
    userId: string,
    type: string,
    payload: unknown,
    options: SendToUserOptions,
  ): Promise<string>;
  sendToUser(
    userId: string,
    type: string,
    payload: unknown,
    options?: SendToUserOptions,
  ): Promise<string | void> {
    assertUserId(userId);
    assertType(type);
    this.sentToUsers.push({ userId, type, payload, ttlSeconds: options?.ttlSeconds });
    return Promise.resolve(options ? `recorded-${this.sentToUsers.length}` : undefined);
  }

  broadcast(type: string, payload: unknown): Promise<void> {
    assertType(type);
    this.broadcasts.push({ type, payload });
    return Promise.resolve();
  }

  disconnectUser(userId: string, code: CloseCode = CloseCode.Revoked): Promise<void> {
    return new Promise((resolve) => {
      assertCloseCode(code);
      this.disconnectedUsers.push({ userId, code });
      resolve();
    });
  }

  /** Retained sends are pending (no client acknowledges them here); `deadLettered` counts as dead. */
  offlineStats(): Promise<OfflineStats> {
    const pending = this.sentToUsers.filter((sent) => sent.ttlSeconds !== undefined).length;
    return Promise.resolve({ pending, delivered: 0, deadLettered: this.deadLettered.length });
  }

  deadLetters(limit = 100): Promise<DeadLetter[]> {
    return Promise.resolve(this.deadLettered.slice(0, limit));
  }

  /** No connection exists; the counters count what was recorded. */
  stats(): RealtimeStats {
    return {
      connections: 0,
      users: 0,
      topics: 0,
      subscriptions: 0,
      counters: { published: this.published.length, broadcasts: this.broadcasts.length },
      instanceId: RECORDER,
      engine: { engine: RECORDER },
    };
  }

  detailedStats(): Promise<RealtimeStats & { engine: EngineStats }> {
    const engine: EngineStats = {
      engine: RECORDER,
      state: 'up',
      historyTopics: 0,
      watchedTopics: 0,
      published: this.published.length,
      received: 0,
    };
    return Promise.resolve({ ...this.stats(), engine });
  }

  /** Messages published to one topic, in order. */
  publishedTo(topic: string): RecordedPublish[] {
    return this.published.filter((message) => message.topic === topic);
  }

  clear(): void {
    this.published.length = 0;
    this.sentToUsers.length = 0;
    this.broadcasts.length = 0;
    this.disconnectedUsers.length = 0;
    this.deadLettered.length = 0;
    this.idempotent.clear();
  }
}
