/** Builds a key under the library's prefix (RedisConnections.key). */
export type KeyBuilder = (...parts: string[]) => string;

/**
 * Every Redis key of presence, named here and nowhere else.
 *
 * A topic's keys share one hash tag, `{<topic>}`, so that Redis Cluster keeps
 * them on one node and a script may touch them together; user-level keys are
 * apart, each user under a tag of its own, and the two indexes (`topics`,
 * `online`) stand alone. No script touches keys of two tags.
 */
export class PresenceKeys {
  constructor(private readonly key: KeyBuilder) {}

  /**
   * A topic's keys, in the order its scripts take them: entries (zset
   * `instance|connection|user` by deadline), users (hash user → connections),
   * roster (zset of users, lexicographic), meta (hash: epoch `e`, last change
   * `s`), log (list of `+user` / `-user`).
   */
  topic(topic: string): [string, string, string, string, string] {
    const base = this.key('presence', `{${topic}}`);
    return [`${base}:entries`, `${base}:users`, `${base}:roster`, `${base}:meta`, `${base}:log`];
  }

  /** One user's connections (zset `instance|connection` by deadline). */
  user(userId: string): string {
    return this.key('presence-user', `{${userId}}`);
  }

  /** Users online: zset user → the latest deadline of their connections. */
  get online(): string {
    return this.key('presence', 'online');
  }

  /** Topics with presence entries: zset topic → the latest deadline of its entries (for the sweep). */
  get topics(): string {
    return this.key('presence', 'topics');
  }
}

/** A topic entry's member: whose connection it is, so a sweep knows which user it leaves. */
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
