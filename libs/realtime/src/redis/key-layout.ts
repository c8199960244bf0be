/**
 * The one owner of every Redis key and channel name of the library.
 *
 * On one Redis (or Sentinel) names are `<prefix><part>:<part>…`. On Redis
 * Cluster a script or MULTI may only touch keys of one hash slot, so names
 * carry a hash tag (`{…}`: only the tag is hashed) that puts together what
 * one call touches, and nothing more:
 * - a topic's meta, history stream and channel share `{<topic>}`
 *   (`rt:meta:{orders}`, `rt:history:{orders}`, `rt:topic:{orders}`): the
 *   publish and recover scripts touch one topic's slot; topics spread over
 *   every master;
 * - a group of keys that scripts use together (`adm`, `bull`, and
 *   `commands` with the revocations) shares the group's tag
 *   (`rt:{adm}:ip:…`): one slot per group (docs/scaling.md says what that
 *   costs);
 * - retained messages, and admission's counts on a cluster, are spread
 *   over partitions, each in its own slot (`rt:{offline:<tag>}:…`,
 *   `rt:{adm:<tag>}:…`, see offlinePartition, admissionPartition);
 * - a key used alone (`topics`, `idempotency:<key>`) needs no tag.
 * Single-Redis names are the same as before tags existed, so an upgrade keeps
 * its data.
 *
 * Channels are the one name a database number does not separate: Redis's
 * pub/sub is server-wide. On a database other than 0 they carry it
 * (`rt:db2:topic:orders`, `rt:db2:commands`), so two apps on one server and
 * the same prefix in databases of their own hear only their own messages.
 */
export class KeyLayout {
  private readonly channelPrefix: string;

  constructor(
    readonly prefix: string,
    readonly cluster: boolean,
    db = 0,
  ) {
    this.channelPrefix = db === 0 ? prefix : `${prefix}db${db}:`;
  }

  /** A key or channel name under the prefix, untagged: `key('topics')` → `rt:topics`. */
  key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  /**
   * A key of a group whose keys scripts touch together: `group('adm', 'ip', ip)`
   * → `rt:adm:ip:<ip>`, on a cluster `rt:{adm}:ip:<ip>` (one slot per group).
   */
  group(name: string, ...parts: string[]): string {
    const head = this.cluster ? `{${name}}` : name;
    return this.prefix + [head, ...parts].join(':');
  }

  /** The prefix of a group's keys: `groupPrefix('adm')` → `rt:adm:` (`rt:{adm}:`). */
  groupPrefix(name: string): string {
    return this.group(name, '');
  }

  /** A topic's key of `kind` (`meta`, `history`, `topic` for its channel). */
  topic(kind: 'meta' | 'history' | 'topic', topic: string): string {
    const head = kind === 'topic' ? this.channelPrefix : this.prefix;
    return this.cluster ? `${head}${kind}:{${topic}}` : `${head}${kind}:${topic}`;
  }

  /** The topic a channel name (`topic(…)`) is for; undefined for any other channel. */
  topicOfChannel(channel: string): string | undefined {
    const head = `${this.channelPrefix}topic:`;
    if (!channel.startsWith(head)) return undefined;
    if (!this.cluster) return channel.slice(head.length);
    if (channel[head.length] !== '{' || !channel.endsWith('}')) return undefined;
    return channel.slice(head.length + 1, -1);
  }

  /** The sorted set of topics with history (the `history.maxTopics` bound). */
  get topicsIndex(): string {
    return this.key('topics');
  }

  /**
   * The channel of commands (broadcast, user, disconnect, revoke), which
   * every instance subscribes to. On a cluster a shard channel in the
   * `{commands}` slot, with the revocations the revoke script publishes
   * from: one node carries them all in one order, instead of a plain PUBLISH
   * copied to every node over the cluster bus.
   */
  get commandChannel(): string {
    return this.cluster ? this.group('commands') : `${this.channelPrefix}commands`;
  }

  get revocations(): string {
    return this.cluster ? this.group('commands', 'revocations') : this.key('revocations');
  }

  get revocationExpiry(): string {
    return this.cluster
      ? this.group('commands', 'revocations', 'expiry')
      : this.key('revocations', 'expiry');
  }

  /**
   * The key prefix of the offline store's partition `tag`: on a cluster
   * `rt:{offline:<tag>}:`, one slot per partition (its users' inboxes with
   * their deadlines, counters and dead letters); on one Redis the only
   * partition, `rt:offline:`.
   */
  offlinePartition(tag: string): string {
    return this.cluster ? `${this.prefix}{offline:${tag}}:` : this.groupPrefix('offline');
  }

  /**
   * Presence's users online: a sorted set, user → the latest deadline of
   * their connections (written by presence's connect and disconnect scripts,
   * in the `presence-users` group). Named here because the offline store
   * reads it too, on one Redis, to skip the live push to users online nowhere.
   */
  get usersOnline(): string {
    return this.group('presence-users', 'online');
  }

  /**
   * The key prefix of admission's partition `tag` on a cluster,
   * `rt:{adm:<tag>}:` (its IPs' and users' counts and connect rates, and
   * each instance's held-keys set of the partition): one slot per partition.
   */
  admissionPartition(tag: string): string {
    return `${this.prefix}{adm:${tag}}:`;
  }

  /** Bull's prefix: on a cluster in one hash tag, as Bull requires there. */
  get bullPrefix(): string {
    return this.group('bull');
  }
}
