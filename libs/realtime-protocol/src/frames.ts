import type { ErrorCode } from './error-codes.constants';
import type { ClientEvent, ServerEvent } from './wire-events.constants';

/*
 * The data of every frame, both ways (PROTOCOL.md §2, §3). The server builds
 * its frames from these types and the client reads them with the same ones,
 * so a field renamed on one side is a compile error on the other.
 */

export interface ConnectedFrameData {
  connectionId: string;
  userId: string | null;
  heartbeatMs: number;
  /** Milliseconds since the epoch; null for a connection without expiry. */
  expiresAt: number | null;
}

export interface SubscribedTopic {
  topic: string;
  offset: string;
  /** Present when the request asked to recover from an offset (`since`). */
  recovered?: boolean;
}

export interface SubscribedFrameData {
  ref?: string;
  topics: SubscribedTopic[];
}

/** A reply to `unsubscribe`; without `ref`, topics the server dropped (a refreshed token no longer allows them). */
export interface UnsubscribedFrameData {
  ref?: string;
  topics: string[];
}

export interface PongFrameData {
  ref?: string;
  ts: number;
}

export interface AuthenticatedFrameData {
  ref?: string;
  userId: string | null;
  expiresAt: number | null;
}

export interface PublishedFrameData {
  ref?: string;
  offset: string;
}

export interface AckedFrameData {
  ref?: string;
  ids: string[];
}

/** A message on a topic, or on `$broadcast` / `$user` (no offset; `id` on a retained `$user` message). */
export interface MessageFrameData {
  topic: string;
  type: string;
  payload: unknown;
  offset?: string;
  ts: number;
  id?: string;
}

export interface ErrorFrameData {
  ref?: string;
  code: ErrorCode;
  message: string;
  topic?: string;
}

/** A topic's counts: subscribed connections, and distinct users among them (anonymous ones count in connections only). */
export interface PresenceCounts {
  connections: number;
  users: number;
}

export interface PresenceMember {
  userId: string;
  /** The user's connections subscribed to the topic, on every instance. */
  connections: number;
}

/** The reply to `presence`: counts, one page of members, and the cursor of the next page (null on the last). */
export interface PresenceFrameData extends PresenceCounts {
  ref?: string;
  topic: string;
  members: PresenceMember[];
  cursor: string | null;
}

/**
 * Users who joined and left a topic within one interval, net of flaps (a user
 * who left and came back is in neither list); both lists empty past the
 * server's size threshold, where only the counts tell.
 */
export interface PresenceDiffFrameData extends PresenceCounts {
  topic: string;
  joined: string[];
  left: string[];
}

/** Server to client: each event's data. */
export interface ServerFrameData {
  connected: ConnectedFrameData;
  subscribed: SubscribedFrameData;
  unsubscribed: UnsubscribedFrameData;
  pong: PongFrameData;
  authenticated: AuthenticatedFrameData;
  published: PublishedFrameData;
  acked: AckedFrameData;
  message: MessageFrameData;
  error: ErrorFrameData;
  presence: PresenceFrameData;
  presence_diff: PresenceDiffFrameData;
}

/** Client to server: each request's data (every request may carry `ref`). */
export interface ClientFrameData {
  /** `presence: true`: `presence_diff` frames for those topics whose namespace sends joins and leaves. */
  subscribe: {
    topics: string[];
    since?: Record<string, string>;
    presence?: boolean;
    ref?: string;
  };
  unsubscribe: { topics: string[]; ref?: string };
  ping: { ref?: string };
  auth: { token: string; ref?: string };
  publish: { topic: string; type: string; payload: unknown; ref?: string };
  ack: { ids: string[]; ref?: string };
  presence: { topic: string; cursor?: string; limit?: number; ref?: string };
}

/** The success reply to each request. */
export interface ReplyEvent {
  subscribe: typeof ServerEvent.Subscribed;
  unsubscribe: typeof ServerEvent.Unsubscribed;
  ping: typeof ServerEvent.Pong;
  auth: typeof ServerEvent.Authenticated;
  publish: typeof ServerEvent.Published;
  ack: typeof ServerEvent.Acked;
  presence: typeof ServerEvent.Presence;
}

/** The data of the success reply to request `E`. */
export type ReplyData<E extends ClientEvent> = ServerFrameData[ReplyEvent[E]];

/** A server-to-client frame. */
export interface ServerFrame<D = unknown> {
  event: ServerEvent;
  data: D;
}

/** Builds a server frame whose data has the shape its event requires. */
export function frame<E extends ServerEvent>(
  event: E,
  data: ServerFrameData[E],
): ServerFrame<ServerFrameData[E]> {
  return { event, data };
}
