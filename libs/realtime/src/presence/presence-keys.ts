import type { KeyLayout } from '../redis/key-layout';

/**
 * Every Redis key of presence, named here and nowhere else.
 *
 * A topic's keys share one hash tag, `{<topic>}`, so that Redis Cluster keeps
 * them on one node and a script may touch them together (topics spread over
 * every master); the user-level keys (each user's connections, the
 * `online` index and the offline graces, which the connect and disconnect
 * scripts touch together) are the `presence-users` group of the KeyLayout
 * (one slot on a cluster); the `topics` index stands alone. No script touches keys of two slots.
 */
export class PresenceKeys {
  /** Built once: a user's key is asked for at every connect and disconnect. */
  private readonly userPrefix: string;

  constructor(private readonly layout: KeyLayout) {
    this.userPrefix = layout.group('presence-users', 'u', '');
  }

  /**
   * A topic's keys, in the order its scripts take them: entries (zset
   * `instance|connection|user` by deadline), users (hash user → connections),
   * roster (zset of users, lexicographic), meta (hash: epoch `e`, last change
   * `s`), log (list of `+user` / `-user`).
   */
  topic(topic: string): [string, string, string, string, string] {
    const base = this.layout.key('presence', `{${topic}}`);
    return [`${base}:entries`, `${base}:users`, `${base}:roster`, `${base}:meta`, `${base}:log`];
  }

  /** One user's connections (zset `instance|connection` by deadline). */
  user(userId: string): string {
    return this.userPrefix + userId;
  }

  /** Users online: zset user → the latest deadline of their connections. */
  get online(): string {
    return this.layout.usersOnline;
  }

  /** Users in their offline grace: zset user → when it ends (`user.offline` is due then). */
  get graces(): string {
    return this.layout.group('presence-users', 'graces');
  }

  /** When each user in their grace closed their last connection: hash user → ms. */
  get lastSeen(): string {
    return this.layout.group('presence-users', 'last-seen');
  }

  /** Topics with presence entries: zset topic → the latest deadline of its entries (for the sweep). */
  get topics(): string {
    return this.layout.key('presence', 'topics');
  }
}

/**
 * A topic entry's member: whose connection it is, so a sweep knows which user
 * it leaves. The user is everything after the second `|` (instance and
 * connection ids never hold one; a user id may: `auth0|…`).
 */
export function entryMember(
  instanceId: string,
  connectionId: string,
  userId: string | null,
): string {
  return `${instanceId}|${connectionId}|${userId ?? ''}`;
}

/** A user-level entry's member. */
export function userMember(instanceId: string, connectionId: string): string {
  return `${instanceId}|${connectionId}`;
}
