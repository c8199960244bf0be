import { Inject, Injectable } from '@nestjs/common';
import type { EngineStats, RealtimeEngine } from '../engine/realtime-engine.port';
import { serializedPayload } from '../framing/message-frame';
import { RealtimeCounters } from '../metrics/realtime-counters';
import {
  CloseCode,
  type EventMap,
  type EventTypeOf,
  type PayloadOf,
  type TopicOf,
} from '../protocol';
import { REALTIME_ENGINE, REALTIME_INSTANCE_ID } from '../realtime.constants';
import { ConnectionRegistry } from '../registry/connection.registry';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import type {
  Broadcaster,
  PublishOptions,
  RealtimeStats,
  SendToUserOptions,
} from './broadcaster.interface';
import { IdempotencyService } from './idempotency/idempotency.service';
import type { DeadLetter, OfflineStats } from './offline/offline-message';
import { OfflineDeliveryService } from './offline/offline-delivery.service';
import { assertCloseCode, assertPublishable, assertType, assertUserId } from './publish-validation';

/**
 * What domain code uses to push live updates. Inject it anywhere in the app;
 * give it your EventMap for compile-time checked topics, types and payloads.
 *
 * @publicApi
 */
@Injectable()
export class BroadcastService<M extends EventMap = EventMap> implements Broadcaster<M> {
  constructor(
    @Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine,
    @Inject(REALTIME_INSTANCE_ID) private readonly instanceId: string,
    private readonly connections: ConnectionRegistry,
    private readonly subscriptions: SubscriptionRegistry,
    private readonly counters: RealtimeCounters,
    private readonly offline: OfflineDeliveryService,
    private readonly idempotency: IdempotencyService,
  ) {}

  /**
   * Publishes to a topic's subscribers on every node; resolves to the
   * message's offset. Rejects at once with `EngineUnavailableError` when the
   * engine cannot carry it (Redis down): nothing was published then.
   */
  async publish<T extends TopicOf<M>, E extends EventTypeOf<M, T>>(
    topic: T,
    type: E,
    payload: PayloadOf<M, T, E>,
    options?: PublishOptions,
  ): Promise<string> {
    assertPublishable(topic, type);
    if (options?.idempotencyKey === undefined) return this.publishNow(topic, type, payload);
    const serialized = serializedPayload(payload);
    return this.idempotency.onceIn('publish', options.idempotencyKey, () =>
      this.publishNow(topic, type, serialized),
    );
  }

  /**
   * Sends to every connection of a user, subscribed or not (topic `$user`, no
   * history). With `ttlSeconds` the message is retained until acknowledged
   * (PROTOCOL §5) and resolves to its `id`; a full inbox rejects with
   * OfflineInboxFullError unless `offline.whenFull` is `dead-letter-oldest`.
   * `userId` must be one a token's `sub` may be (USER_ID_PATTERN, wider than
   * a topic key: `auth0|…` is a user id), else it throws a BAD_REQUEST
   * RealtimeException.
   */
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
    // Not async: the send's own promise is handed back as is, not wrapped in another one (a
    // notification burst pays for every promise and microtask per call). Throws still reject.
    try {
      assertUserId(userId);
      assertType(type);
      if (options !== undefined)
        return this.offline.send(userId, type, payload, options.ttlSeconds);
      return this.engine.command({ kind: 'user', userId, type, payload, ts: Date.now() });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Retained messages: waiting, acknowledged, dead-lettered (cluster-wide in Redis mode). */
  offlineStats(): Promise<OfflineStats> {
    return this.offline.stats();
  }

  /** The newest dead letters, newest first (at most `offline.deadLetterLimit` are kept). */
  deadLetters(limit = 100): Promise<DeadLetter[]> {
    return this.offline.deadLetters(limit);
  }

  /** Sends to every connection (topic `$broadcast`, no offset, no history). */
  async broadcast(type: string, payload: unknown): Promise<void> {
    assertType(type);
    await this.engine.command({ kind: 'broadcast', type, payload, ts: Date.now() });
  }

  /**
   * Closes every connection of a user (default 4003: clients must not
   * reconnect with the same token). `code` is one of the protocol's
   * (PROTOCOL §6); any other is refused here, before any socket is touched.
   */
  async disconnectUser(userId: string, code: CloseCode = CloseCode.Revoked): Promise<void> {
    assertCloseCode(code);
    await this.engine.command({ kind: 'disconnect-user', userId, code });
  }

  private async publishNow(topic: string, type: string, payload: unknown): Promise<string> {
    const message = await this.engine.publish(topic, type, payload);
    this.counters.published++;
    return message.offset;
  }

  /** This node's figures, read synchronously. */
  stats(): RealtimeStats {
    return {
      connections: this.connections.size,
      users: this.connections.userCount,
      topics: this.subscriptions.topicCount,
      subscriptions: this.subscriptions.subscriptionCount,
      counters: this.counters.snapshot(),
      instanceId: this.instanceId,
      engine: { engine: this.engine.name },
    };
  }

  /** `stats()` with the engine's figures (state, history, round trip), asked of the engine. */
  async detailedStats(): Promise<RealtimeStats & { engine: EngineStats }> {
    return { ...this.stats(), engine: await this.engine.stats() };
  }
}
