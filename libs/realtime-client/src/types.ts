import type {
  ConnectedFrameData,
  EventMap,
  EventTypeOf,
  PayloadOf,
  PresenceDiffFrameData,
  PresenceFrameData,
} from '@nest-realtime/protocol';
import type { BackoffOptions } from './backoff';

export type { EventMap, TopicOf } from '@nest-realtime/protocol';

export type ConnectionState =
  'connecting' | 'connected' | 'disconnected' | 'reconnecting' | 'closed';

/** Why the client asks for a token: it passes this to `getToken` so an app can skip its cache. */
export type TokenReason = 'connect' | 'reconnect' | 'expired' | 'refresh';

/**
 * The browser's `WebSocket`, or `ws` on Node 20: anything constructed with a
 * URL that has `readyState`, `send`, `close` and the `on*` handler properties.
 */
export type WebSocketConstructor = new (url: string) => object;

export interface RealtimeClientOptions {
  /** `ws://host/ws` or `wss://host/ws`. */
  url: string;
  /** Called before every connection and before `expiresAt`; null or undefined connects anonymously. */
  getToken?: (
    reason: TokenReason,
  ) => string | null | undefined | Promise<string | null | undefined>;
  /** Defaults to the global `WebSocket`; pass `ws`'s export on Node 20. */
  WebSocket?: WebSocketConstructor;
  /** A request (`publish`, `ping`, `subscribe`, `auth`, `ack`, `presence`) fails with TIMEOUT after this [10 s]. */
  requestTimeoutMs?: number;
  /** Handshake plus the `connected` frame must arrive within this [10 s]. */
  connectTimeoutMs?: number;
  /** Probe an idle link this often; defaults to the server's `heartbeatMs`. */
  heartbeatMs?: number;
  /** No frame this long after a probe means the link is dead [10 s]. */
  pongTimeoutMs?: number;
  /** Send `auth` with a fresh token this long before `expiresAt` (at most half the token's life) [30 s]. */
  refreshBeforeExpiryMs?: number;
  backoff?: Partial<BackoffOptions>;
  /** Offline-message ids are acknowledged in batches, this long after the first one [50 ms]. */
  ackDelayMs?: number;
  /** How many offline-message ids are remembered to drop redeliveries [1000]. */
  seenIdsLimit?: number;
}

/** The `connected` frame's data: the server's id for the connection, the user, the heartbeat, the expiry. */
export type ConnectedInfo = ConnectedFrameData;

export interface DisconnectedInfo {
  code: number;
  reason: string;
  /** HTTP status of a refused handshake, where the runtime exposes it (ws on Node). */
  status?: number;
  /** The reconnect is scheduled this far ahead. */
  delayMs: number;
}

export interface ClosedInfo {
  code: number;
  reason: string;
  status?: number;
}

/** A message on a subscribed topic, typed by the app's EventMap. */
export type TopicMessage<M extends EventMap, T extends string> = {
  [E in EventTypeOf<M, T>]: {
    topic: T;
    type: E;
    payload: PayloadOf<M, T, E>;
    offset: string;
    ts: number;
  };
}[EventTypeOf<M, T>];

/** A `$broadcast` message (no offset) or a `$user` message (an `id` when it was sent with retention). */
export interface DirectMessage {
  topic: string;
  type: string;
  payload: unknown;
  ts: number;
  id?: string;
}

/** Joins and leaves of a topic subscribed with `{ presence: true }`, one per interval at most (net of flaps). */
export type PresenceDiff = PresenceDiffFrameData;

/** One page of a topic's members, with its counts; `cursor` null on the last page. */
export type PresencePage = Omit<PresenceFrameData, 'ref'>;

export interface SubscribeOptions {
  /** Also receive `presence-diff` events for this topic (where its namespace sends joins and leaves). */
  presence?: boolean;
}

export interface ResyncInfo {
  topic: string;
  /** The topic's head offset now: the client resumes from here. */
  offset: string;
}

export interface Subscription<T extends string = string> {
  readonly topic: T;
  /** Resolves when the server confirmed the topic; rejects when it refused it. */
  readonly ready: Promise<void>;
  /** The last offset seen on this topic. */
  readonly offset: string | undefined;
  /** Removes this handler; the topic is unsubscribed when no handler is left. */
  unsubscribe(): void;
}

export interface ClientStats {
  reconnects: number;
  duplicatesDropped: number;
  acked: number;
}

export interface ClientEvents {
  state: [state: ConnectionState, previous: ConnectionState];
  connecting: [];
  reconnecting: [{ attempt: number }];
  connected: [ConnectedInfo];
  disconnected: [DisconnectedInfo];
  closed: [ClosedInfo];
  'resync-needed': [ResyncInfo];
  broadcast: [DirectMessage];
  'user-message': [DirectMessage];
  authenticated: [{ userId: string | null; expiresAt: number | null }];
  'presence-diff': [PresenceDiff];
  error: [Error];
}
