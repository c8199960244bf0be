import { Injectable } from '@nestjs/common';
import type { PublishOptions, SendToUserOptions } from '../delivery/broadcast.service';
import type { EventMap, EventTypeOf, PayloadOf, TopicOf } from '../delivery/event-map';
import { assertPublishable, assertType, assertUserId } from '../delivery/publish-validation';
import { CloseCode } from '../protocol';

export interface RecordedPublish {
  topic: string;
  type: string;
  payload: unknown;
  offset: string;
}

/**
 * Stands in for BroadcastService in unit tests: records what domain code
 * published, applying the same topic and type rules, with no socket or engine.
 *
 * @publicApi
 */
@Injectable()
export class RealtimeRecorder<M extends EventMap = EventMap> {
  readonly published: RecordedPublish[] = [];
  readonly sentToUsers: Array<{
    userId: string;
    type: string;
    payload: unknown;
    ttlSeconds?: number;
  }> = [];
  readonly broadcasts: Array<{ type: string; payload: unknown }> = [];
  readonly disconnectedUsers: Array<{ userId: string; code: number }> = [];
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
    this.disconnectedUsers.push({ userId, code });
    return Promise.resolve();
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
    this.idempotent.clear();
  }
}
