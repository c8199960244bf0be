import type { EngineStats } from '../engine/realtime-engine.port';
import type { CloseCode, EventMap, EventTypeOf, PayloadOf, TopicOf } from '../protocol';
import type { DeadLetter, OfflineStats } from './offline/offline-message';

/** @publicApi */
export interface PublishOptions {
  /**
   * Carries the publish out once per key within `idempotency.windowSeconds`
   * (cluster-wide in Redis mode); a retry with the key resolves to the first
   * publish's offset and publishes nothing.
   */
  idempotencyKey?: string;
}

/** @publicApi */
export interface SendToUserOptions {
  /**
   * Keeps the message until the user acknowledges it or this many seconds
   * pass: sent now to the user's open connections and again on each new one.
   */
  ttlSeconds: number;
}

/** @publicApi */
export interface RealtimeStats {
  connections: number;
  users: number;
  topics: number;
  subscriptions: number;
  counters: Record<string, number | Record<string, number>>;
  instanceId: string;
  /** The engine's name; `detailedStats()` adds its figures (a round trip in Redis mode). */
  engine: { engine: string } | EngineStats;
}

/**
 * Everything domain code can ask of the realtime layer. BroadcastService is
 * the real one; RealtimeRecorder, which RealtimeTestingModule binds in its
 * place, implements the same interface, so a domain test can call whatever
 * the domain code calls.
 *
 * @publicApi
 */
export interface Broadcaster<M extends EventMap = EventMap> {
  /** Publishes to a topic's subscribers on every node; resolves to the message's offset. */
  publish<T extends TopicOf<M>, E extends EventTypeOf<M, T>>(
    topic: T,
    type: E,
    payload: PayloadOf<M, T, E>,
    options?: PublishOptions,
  ): Promise<string>;
  /** Sends to every connection of a user (`$user`); with `ttlSeconds`, retained until acknowledged. */
  sendToUser(userId: string, type: string, payload: unknown): Promise<void>;
  sendToUser(
    userId: string,
    type: string,
    payload: unknown,
    options: SendToUserOptions,
  ): Promise<string>;
  /** Sends to every connection (`$broadcast`). */
  broadcast(type: string, payload: unknown): Promise<void>;
  /** Closes every connection of a user (default 4003). */
  disconnectUser(userId: string, code?: CloseCode): Promise<void>;
  /** Retained messages: waiting, acknowledged, dead-lettered. */
  offlineStats(): Promise<OfflineStats>;
  /** The newest dead letters, newest first. */
  deadLetters(limit?: number): Promise<DeadLetter[]>;
  /** This node's figures, read synchronously. */
  stats(): RealtimeStats;
  /** `stats()` with the engine's figures. */
  detailedStats(): Promise<RealtimeStats & { engine: EngineStats }>;
}
