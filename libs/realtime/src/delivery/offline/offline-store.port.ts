import type { DeadLetter, OfflineMessage, OfflineStats } from './offline-message';
import { payloadText } from '../../framing/message-frame';

/** Bounds of one user's inbox, and what a full one does. */
export interface InboxLimits {
  maxMessages: number;
  maxBytes: number;
  whenFull: 'reject' | 'dead-letter-oldest';
  deadLetterLimit: number;
}

/**
 * What `add` did: the messages a full inbox dead-lettered to make room, and
 * whether the user may have a connection open somewhere. `online` is false
 * only when the store knows, atomically with the write, that no connection of
 * the user is open anywhere: a connection that opens later reads the message
 * from the inbox, so no live push is needed.
 */
export interface StoredMessage {
  evicted: readonly DeadLetter[];
  online: boolean;
}

/** The common outcomes, shared (an add allocates no outcome of its own). */
export const STORED_OFFLINE: StoredMessage = Object.freeze({
  evicted: Object.freeze([]),
  online: false,
});
export const STORED_ONLINE: StoredMessage = Object.freeze({
  evicted: Object.freeze([]),
  online: true,
});

/**
 * Where retained messages wait for their acknowledgement: in this process
 * (memory mode) or in Redis, where they survive restarts of every instance.
 * Every operation is atomic per user: an ack racing an expiry settles the
 * message exactly once (acknowledged or dead-lettered, never both).
 *
 * A message and its deadline are kept together, in one write: expiry is a
 * sweep of the deadlines that passed (`expireDue`), not a job or timer per
 * message, and an acknowledged message leaves no deadline behind.
 */
export interface OfflineStore {
  /**
   * Keeps the message; resolves to the messages a full inbox dead-lettered to
   * make room, and whether the user may be online. Rejects with
   * OfflineInboxFullError when it may not make room.
   */
  add(message: RetainedMessage, limits: InboxLimits): Promise<StoredMessage>;
  /** The user's unexpired messages, oldest first. */
  pending(userId: string, now: number): Promise<OfflineMessage[]>;
  /** Removes the acknowledged messages; unknown ids are ignored. Resolves to how many it removed. */
  ack(userId: string, ids: readonly string[]): Promise<number>;
  /**
   * Dead-letters at most `limit` messages, of any user, whose expiry is at or
   * before `now`, oldest deadline first; each one once, however many
   * instances sweep at the same time. Resolves to their dead letters.
   */
  expireDue(now: number, limit: number, deadLetterLimit: number): Promise<DeadLetter[]>;
  /**
   * Dead-letters the message if it is still waiting; undefined when it was
   * acknowledged already. (Only the expiry jobs a deployment before sweeping
   * left in Redis still name a message; the sweep is `expireDue`.)
   */
  expire(
    userId: string,
    id: string,
    now: number,
    deadLetterLimit: number,
  ): Promise<DeadLetter | undefined>;
  /** The newest dead letters, newest first. */
  deadLetters(limit: number): Promise<DeadLetter[]>;
  stats(): Promise<OfflineStats>;
}

/**
 * A message as the stores keep it: its JSON, written once when it was sent
 * (a payload the caller changes afterwards changes nothing kept or pushed),
 * and the fields they index it by.
 */
export interface RetainedMessage {
  readonly id: string;
  readonly userId: string;
  readonly ts: number;
  readonly expiresAt: number;
  /** serializeMessage of the message. */
  readonly json: string;
}

/** The message as the stores keep it, serialized now. */
export function retain(message: OfflineMessage): RetainedMessage {
  const { id, userId, ts, expiresAt } = message;
  return { id, userId, ts, expiresAt, json: serializeMessage(message) };
}

/**
 * The bytes a message counts against its inbox: its JSON, as stored. Its
 * keys in a fixed order, `ts` and `expiresAt` last: the Redis store's script
 * reads them from the tail instead of taking them as arguments of their own.
 */
export function serializeMessage(message: OfflineMessage): string {
  // Spliced rather than stringified whole: no object to build per message. The same text as
  // JSON.stringify({ id, userId, type, payload, ts, expiresAt }) (ts and expiresAt are integers),
  // a payload JSON has no value for being null, as in a frame.
  return (
    `{"id":${JSON.stringify(message.id)},"userId":${JSON.stringify(message.userId)},` +
    `"type":${JSON.stringify(message.type)},"payload":${payloadText(message.payload)},` +
    `"ts":${message.ts},"expiresAt":${message.expiresAt}}`
  );
}
