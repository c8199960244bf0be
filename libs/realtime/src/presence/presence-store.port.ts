import type { PresenceCounts, PresenceMember } from '../protocol';

/** A connection subscribed to a topic that keeps presence; `userId` null for an anonymous one. */
export interface PresenceSlot {
  topic: string;
  connectionId: string;
  userId: string | null;
}

/**
 * A user's entry on an instance, for user-level presence (`isOnline`,
 * `onlineUsers`): the tracker keeps one per user per instance (its
 * `connectionId` the same for all of them), however many of the user's
 * connections the instance holds. A store keys it by user and connection id,
 * never by the connection id alone.
 */
export interface UserSlot {
  connectionId: string;
  userId: string;
}

// The wire package's shapes: what the store answers is what the `presence` reply carries.
export type { PresenceCounts, PresenceMember };

/** One page of a topic's roster; `cursor` null on the last page. */
export interface PresencePage extends PresenceCounts {
  members: PresenceMember[];
  cursor: string | null;
}

/** A user's join (`true`: their first connection in the topic) or leave (`false`: their last one gone). */
export type PresenceChange = readonly [userId: string, joined: boolean];

/** What changed in a topic since a cursor, with the counts as they are now. */
export interface PresenceChanges extends PresenceCounts {
  /** Where the next read starts. */
  cursor: string;
  /**
   * The joins and leaves after the cursor, oldest first; undefined when the
   * store no longer holds all of them (the log is bounded, or the topic's state
   * was lost) or when no cursor was given.
   */
  changes: PresenceChange[] | undefined;
}

export interface PresenceSweep {
  removed: number;
  /** Users whose every connection expired (no instance saw them leave), at most a bounded batch per sweep. */
  gone: Array<{ userId: string; deadline: number }>;
}

/** A user whose offline grace is over with no connection opened since: their `user.offline` is due. */
export interface DueOffline {
  userId: string;
  /** When their last connection closed. */
  lastSeen: number;
}

/** A cursor the store did not hand out (the client sends it back: BAD_REQUEST). */
export class InvalidPresenceCursorError extends Error {
  constructor() {
    super('cursor is not one the server handed out');
    this.name = 'InvalidPresenceCursorError';
  }
}

/**
 * Who is subscribed where, across every instance (Redis) or in this process
 * (memory). Every entry belongs to an instance and lives until `deadline`
 * (ms since the epoch) unless the instance renews it: an instance that dies
 * without leaving stops counting once its deadline passes. Reads ignore
 * expired entries (they sweep them first); `sweep` removes them everywhere.
 *
 * Counts are maintained on every join and leave, never computed by scanning,
 * so `count` costs the same whatever the topic's size. Each join and leave of
 * a user (not of a connection) is logged, bounded, for `changes`.
 */
export interface PresenceStore {
  join(instanceId: string, slot: PresenceSlot, deadline: number): Promise<void>;
  leave(instanceId: string, slot: PresenceSlot): Promise<void>;
  /**
   * Resolves to true when this is the user's first live connection anywhere
   * and it does not cancel an offline grace (so `user.online` is due): a user
   * back within the grace, on any instance, was never offline.
   */
  connect(instanceId: string, slot: UserSlot, deadline: number, now: number): Promise<boolean>;
  /**
   * Resolves to true when the user has no live connection left anywhere. With
   * `graceUntil`, that last close also starts the user's offline grace
   * (atomically with it): `dueOffline` hands the user out once `graceUntil`
   * has passed, unless a `connect` cancelled it first.
   */
  disconnect(
    instanceId: string,
    slot: UserSlot,
    now: number,
    graceUntil?: number,
  ): Promise<boolean>;
  /**
   * Removes and returns up to `limit` users whose offline grace ended by
   * `now`, each once across every instance (Redis: one script).
   */
  dueOffline(now: number, limit: number): Promise<DueOffline[]>;
  /** Moves the deadline of every entry the instance holds (it names them all) to `deadline`. */
  renew(
    instanceId: string,
    slots: readonly PresenceSlot[],
    users: readonly UserSlot[],
    deadline: number,
  ): Promise<void>;
  count(topic: string, now: number): Promise<PresenceCounts>;
  /**
   * Up to `limit` members after `cursor` (from the start without one). Paging
   * through an unchanging topic returns each user exactly once. Rejects with
   * InvalidPresenceCursorError for a cursor it did not hand out.
   */
  members(
    topic: string,
    cursor: string | undefined,
    limit: number,
    now: number,
  ): Promise<PresencePage>;
  changes(topic: string, cursor: string | undefined, now: number): Promise<PresenceChanges>;
  isOnline(userId: string, now: number): Promise<boolean>;
  /** Distinct users with a live connection anywhere. */
  onlineUsers(now: number): Promise<number>;
  /**
   * Removes every expired entry (the cleanup job). Resolves to how many it
   * removed, and the users it found gone without a disconnect (every
   * connection of theirs expired: their instance died), each once, with the
   * deadline their last connection had.
   */
  sweep(now: number): Promise<PresenceSweep>;
}

/** Roster cursors are opaque to clients: the last user of a page, encoded. */
export function encodeCursor(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, valid: (value: string) => boolean): string {
  const value = Buffer.from(cursor, 'base64url').toString('utf8');
  if (encodeCursor(value) !== cursor || !valid(value)) throw new InvalidPresenceCursorError();
  return value;
}
