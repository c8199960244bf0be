import type { DeadLetter, OfflineMessage, OfflineStats } from './offline-message';

/** Bounds of one user's inbox, and what a full one does. */
export interface InboxLimits {
  maxMessages: number;
  maxBytes: number;
  whenFull: 'reject' | 'dead-letter-oldest';
  deadLetterLimit: number;
}

/**
 * Where retained messages wait for their acknowledgement: in this process
 * (memory mode) or in Redis, where they survive restarts of every instance.
 * Every operation is atomic per user: an ack racing an expiry settles the
 * message exactly once (acknowledged or dead-lettered, never both).
 */
export interface OfflineStore {
  /**
   * Keeps the message; resolves to the messages a full inbox dead-lettered to
   * make room. Rejects with OfflineInboxFullError when it may not make room.
   */
  add(message: OfflineMessage, limits: InboxLimits): Promise<DeadLetter[]>;
  /** The user's unexpired messages, oldest first. */
  pending(userId: string, now: number): Promise<OfflineMessage[]>;
  /** Removes the acknowledged messages; unknown ids are ignored. Resolves to how many it removed. */
  ack(userId: string, ids: readonly string[]): Promise<number>;
  /** Dead-letters the message if it is still waiting; undefined when it was acknowledged already. */
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

/** The bytes a message counts against its inbox: its JSON, as stored. */
export function serializeMessage(message: OfflineMessage): string {
  return JSON.stringify(message);
}
