import { Injectable } from '@nestjs/common';
import type { EventMap, EventTypeOf, PayloadOf, TopicOf } from '../delivery/event-map';
import { assertPublishable, assertType } from '../delivery/publish-validation';
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
  readonly sentToUsers: Array<{ userId: string; type: string; payload: unknown }> = [];
  readonly broadcasts: Array<{ type: string; payload: unknown }> = [];
  readonly disconnectedUsers: Array<{ userId: string; code: number }> = [];

  publish<T extends TopicOf<M>, E extends EventTypeOf<M, T>>(
    topic: T,
    type: E,
    payload: PayloadOf<M, T, E>,
  ): Promise<string> {
    assertPublishable(topic, type);
    const offset = `0-${this.published.length + 1}`;
    this.published.push({ topic, type, payload, offset });
    return Promise.resolve(offset);
  }

  sendToUser(userId: string, type: string, payload: unknown): Promise<void> {
    assertType(type);
    this.sentToUsers.push({ userId, type, payload });
    return Promise.resolve();
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
  }
}
