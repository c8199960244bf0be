import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { encodeFrame, type OutboundFrame } from '../framing/outbound-frame';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { namespaceOf, type PresenceCounts, ServerEvent } from '../protocol';
import { REALTIME_INSTANCE_ID, REALTIME_OPTIONS } from '../realtime.constants';
import type { Connection } from '../registry/connection';
import { ConnectionRegistry } from '../registry/connection.registry';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import { SocketWriter } from '../transport/socket-writer.service';
import { RealtimeEvents } from './lifecycle/realtime-events.service';
import { type NetChanges, netChanges } from './net-changes';
import { PRESENCE_STORE } from './presence.constants';
import type { PresenceChange, PresenceSlot, PresenceStore, UserSlot } from './presence-store.port';
import { failureDetail } from '../engine/engine-unavailable.error';

/**
 * The connection id of the one user entry an instance keeps per user: all
 * of the user's connections here share it, so only their first open and
 * last close on the instance reach the store (a user's second tab costs
 * Redis nothing).
 */
const INSTANCE_USER_ENTRY = '*';

/** Users whose grace is over that one store read hands out at most. */
const OFFLINE_BATCH = 500;

/**
 * Frames a diff round writes, over all its topics, before it lets the event
 * loop run. Each is a write to its own socket (tens of µs on loopback, more on
 * a busy machine): a round for 8,000 watchers held the loop for 80–190 ms in
 * one piece, and the handshakes, requests and pings waiting behind it with it.
 */
const DIFF_WRITES_PER_TURN = 256;

/** Netting skipped: nothing named (past the threshold, the counts alone already changed). */
const NOT_NETTED: NetChanges = { joined: [], left: [] };

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A topic some local connection gets diffs for: where its log was last read, and what was last said. */
interface WatchedTopic {
  watchers: number;
  /** Undefined until the first read (started when the topic was first watched) answered. */
  cursor: string | undefined;
  /** That first read is in flight. */
  starting: boolean;
  counts: PresenceCounts | undefined;
  /** Diff rounds done: a watcher remembers how many were done when it started watching. */
  rounds: number;
  /** The last round's changes (undefined: the log had lost some) and the counts said before it. */
  previous: readonly PresenceChange[] | undefined;
  countedBefore: PresenceCounts | undefined;
}

/**
 * This instance's part of presence. It watches the registries (every
 * subscription to a topic that keeps presence is an entry; every
 * authenticated connection a user entry), tells the store at once, renews
 * the instance's entries every third of the TTL, and once per diff interval
 * reads the watched topics' logs and writes one `presence_diff` per topic to
 * the connections that asked for them (the same bytes to each).
 *
 * A store that fails (Redis down) never holds a socket: calls are not
 * awaited by the gateway, failures are logged once per outage, and the next
 * renewal re-adds every entry, so the store heals within an interval.
 */
@Injectable()
export class PresenceTracker implements OnApplicationBootstrap {
  private readonly logger = new Logger('Realtime');
  private readonly ttlMs: number;
  /** topic → connection id → user id, for this instance's connections in topics that keep presence. */
  private readonly local = new Map<string, Map<string, string | null>>();
  private readonly watched = new Map<string, WatchedTopic>();
  private renewTimer: NodeJS.Timeout | undefined;
  private diffTimer: NodeJS.Timeout | undefined;
  /** The diff round in progress: the next interval skips it, and shutdown waits for it. */
  private diffing: Promise<void> | undefined;
  /** Frames the round wrote since the event loop last ran other work (all topics together). */
  private turnWrites = 0;
  /** Resolves once the loop has run other work; shared by the topics that wait for it. */
  private turnPassed: Promise<void> | undefined;
  private stopping = false;
  /** Looks for users whose offline grace is over (only while `user.online`/`user.offline` have handlers). */
  private offlineTimer: NodeJS.Timeout | undefined;
  private checkingOffline = false;
  private failing = false;
  private readonly failed = (error: unknown): void => {
    if (this.failing) return;
    this.failing = true;
    this.logger.warn(`presence store: ${failureDetail(error)} (retrying)`);
  };

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    @Inject(REALTIME_INSTANCE_ID) private readonly instanceId: string,
    @Inject(PRESENCE_STORE) private readonly store: PresenceStore,
    private readonly subscriptions: SubscriptionRegistry,
    private readonly connections: ConnectionRegistry,
    private readonly writer: SocketWriter,
    private readonly events: RealtimeEvents,
  ) {
    this.ttlMs = options.presence.ttlSeconds * 1_000;
    subscriptions.listen({
      added: (connection, topic) => this.joined(connection, topic),
      removed: (connection, topic) => this.left(connection, topic),
    });
    connections.listen({
      added: (connection) => this.connected(connection),
      removed: (connection) => this.disconnected(connection),
      userChanged: (connection, previous) => this.userChanged(connection, previous),
    });
  }

  onApplicationBootstrap(): void {
    this.renewTimer = setInterval(() => this.renew(), Math.max(1, Math.floor(this.ttlMs / 3)));
    this.renewTimer.unref();
    this.diffTimer = setInterval(() => void this.diff(), this.options.presence.diffIntervalMs);
    this.diffTimer.unref();
    if (this.tracksGraces()) {
      this.offlineTimer = setInterval(
        () => void this.checkOffline(),
        this.options.events.offlineCheckMs,
      );
      this.offlineTimer.unref();
    }
  }

  /**
   * Shutdown (RealtimeLifecycleService calls it before the drain): the
   * timers end and the diff round in progress stops at its next pause.
   * Graces this instance started stay in the store (Redis: any other
   * instance, or the next one to start, tells their `user.offline`); the
   * closes of the shutdown's own connections start theirs there too.
   */
  async stop(): Promise<void> {
    clearInterval(this.renewTimer);
    clearInterval(this.diffTimer);
    clearInterval(this.offlineTimer);
    this.renewTimer = this.diffTimer = this.offlineTimer = undefined;
    // A round waiting for its next turn stops there, and writes nothing more.
    this.stopping = true;
    await this.diffing;
  }

  /** Whether the topic's namespace keeps presence. */
  keeps(topic: string): boolean {
    return this.options.topics[namespaceOf(topic)]?.presence !== undefined;
  }

  /** Whether the topic's namespace sends joins and leaves. */
  sendsJoinLeave(topic: string): boolean {
    return this.options.topics[namespaceOf(topic)]?.presence?.joinLeave === true;
  }

  /** Diffs for these topics to this connection (subscribe with `presence: true`): those it holds that send joins and leaves. */
  watch(connection: Connection, topics: readonly string[]): void {
    for (const topic of topics) {
      if (!connection.topics.has(topic) || !this.sendsJoinLeave(topic)) continue;
      const diffs = (connection.presenceDiffs ??= new Map());
      if (diffs.has(topic)) continue;
      const watched = this.watched.get(topic);
      if (watched) {
        diffs.set(topic, watched.rounds);
        watched.watchers++;
        continue;
      }
      // The topic's first watcher: the log is read from now on, so the first round already covers it.
      diffs.set(topic, -1);
      const fresh: WatchedTopic = {
        watchers: 1,
        cursor: undefined,
        counts: undefined,
        rounds: 0,
        previous: [],
        countedBefore: undefined,
        starting: false,
      };
      this.watched.set(topic, fresh);
      this.readStart(topic, fresh);
    }
  }

  /**
   * Where the topic's log is now: the first diff tells what happens after
   * the topic was first watched. Until it answers the topic gets no diff; a
   * failed read is made again at the next round (diffTopic), else the topic
   * would wait for it until its last watcher left.
   */
  private readStart(topic: string, watched: WatchedTopic): void {
    watched.starting = true;
    this.store.changes(topic, undefined, Date.now()).then(
      ({ cursor, connections, users }) => {
        watched.starting = false;
        watched.cursor ??= cursor;
        watched.counts ??= { connections, users };
        watched.countedBefore ??= watched.counts;
      },
      (error: unknown) => {
        watched.starting = false;
        this.failed(error);
      },
    );
  }

  /** A renewal: every entry of this instance, with a new deadline (Redis: one script per topic). */
  renew(): void {
    const slots: PresenceSlot[] = [];
    for (const [topic, entries] of this.local) {
      for (const [connectionId, userId] of entries) slots.push({ topic, connectionId, userId });
    }
    // The registry is the one index of this instance's users: a map of its own here would cost
    // every connection another entry (docs/benchmarks.md, heap per idle connection).
    const named = new Set<string>();
    for (const { principal } of this.connections.all()) {
      if (principal.userId !== null) named.add(principal.userId);
    }
    const users = [...named].map(userEntry);
    this.store.renew(this.instanceId, slots, users, this.deadline()).then(() => {
      if (!this.failing) return;
      this.failing = false;
      this.logger.log('presence store: renewed again');
    }, this.failed);
  }

  /**
   * One diff per watched topic: the log since the last read, netted per user.
   * A read still in flight when the next interval starts is not doubled.
   */
  diff(): Promise<void> {
    if (this.diffing || this.stopping) return Promise.resolve();
    this.turnWrites = 0;
    const now = Date.now();
    this.diffing = Promise.all(
      [...this.watched].map(([topic, watched]) =>
        this.diffTopic(topic, watched, now).catch(this.failed),
      ),
    ).then(() => {
      this.diffing = undefined;
    });
    return this.diffing;
  }

  /**
   * A watcher that started during this round's interval gets nothing now: its
   * first diff comes next round and covers both intervals (nothing it could
   * miss, at most one frame per interval). Written at once it would mostly
   * name joins from before it watched, which its `presence` request gives it,
   * and cost a frame per new watcher: in a join storm that is a frame per
   * join, as many as all the regular diffs together.
   */
  private async diffTopic(topic: string, watched: WatchedTopic, now: number): Promise<void> {
    if (watched.cursor === undefined) {
      if (!watched.starting) this.readStart(topic, watched);
      return;
    }
    const read = await this.store.changes(topic, watched.cursor, now);
    const round = ++watched.rounds;
    watched.cursor = read.cursor;
    const { connections, users } = read;
    const counts = { connections, users };
    const counted = watched.counts;
    const countedBefore = watched.countedBefore;
    const previous = watched.previous;
    watched.counts = counts;
    watched.countedBefore = counted;
    watched.previous = read.changes;
    const regular = this.diffFrame(topic, counts, counted, read.changes);
    // Built only if some watcher skipped the last round.
    let caughtUp: OutboundFrame | null | undefined;
    // The set's own iterator: a watcher gone while the loop lets others run is not visited, one
    // added meanwhile started this round (so gets nothing from it).
    for (const connection of this.subscriptions.subscribersOf(topic) ?? []) {
      const started = connection.presenceDiffs?.get(topic);
      if (started === undefined || started >= round - 1) continue;
      let frame: OutboundFrame | null;
      if (started < round - 2) frame = regular;
      else {
        caughtUp ??= this.diffFrame(
          topic,
          counts,
          countedBefore,
          previous && read.changes && previous.concat(read.changes),
        );
        frame = caughtUp;
      }
      if (!frame) continue;
      this.writer.write(connection, frame);
      if (++this.turnWrites < DIFF_WRITES_PER_TURN) continue;
      await this.otherWorkRan();
      // Shutting down, or every watcher left meanwhile (whoever watches now counts rounds of a
      // new WatchedTopic).
      if (this.stopping || this.watched.get(topic) !== watched) return;
    }
  }

  /** The round's writes wait here for the event loop to run other work, every topic's together. */
  private otherWorkRan(): Promise<void> {
    this.turnPassed ??= nextTurn().then(() => {
      this.turnWrites = 0;
      this.turnPassed = undefined;
    });
    return this.turnPassed;
  }

  /**
   * One `presence_diff` for the changes since watchers last heard (`said`),
   * the same bytes for each of them; null when nothing changed for them.
   * Past the threshold, or when the log lost some changes, only the counts.
   */
  private diffFrame(
    topic: string,
    counts: PresenceCounts,
    said: PresenceCounts | undefined,
    changes: readonly PresenceChange[] | undefined,
  ): OutboundFrame | null {
    const same = said?.connections === counts.connections && said.users === counts.users;
    const named = changes !== undefined && counts.users <= this.options.presence.maxDiffUsers;
    // Netted only for lists that are sent, or to tell whether anything changed behind equal counts.
    const net = named || same ? netChanges(changes ?? []) : NOT_NETTED;
    if (same && net.joined.length + net.left.length === 0) return null;
    return encodeFrame(ServerEvent.PresenceDiff, {
      topic,
      joined: named ? net.joined : [],
      left: named ? net.left : [],
      connections: counts.connections,
      users: counts.users,
    });
  }

  private joined(connection: Connection, topic: string): void {
    if (this.events.wants('subscribed'))
      this.events.emit('subscribed', this.slot(connection, topic));
    if (!this.keeps(topic)) return;
    let entries = this.local.get(topic);
    if (!entries) this.local.set(topic, (entries = new Map<string, string | null>()));
    entries.set(connection.id, connection.principal.userId);
    this.store
      .join(this.instanceId, this.slot(connection, topic), this.deadline())
      .catch(this.failed);
  }

  private left(connection: Connection, topic: string): void {
    if (this.events.wants('unsubscribed')) {
      this.events.emit('unsubscribed', this.slot(connection, topic));
    }
    if (connection.presenceDiffs?.delete(topic)) this.unwatch(topic);
    const entries = this.local.get(topic);
    if (!entries?.delete(connection.id)) return;
    if (entries.size === 0) this.local.delete(topic);
    this.store.leave(this.instanceId, this.slot(connection, topic)).catch(this.failed);
  }

  /**
   * One check for users whose offline grace is over: each is handed to one
   * instance once (the store removes it as it reads it), so `user.offline`
   * is told once however many instances check. Runs until a read comes back
   * short of the batch, so a mass disconnect does not trail by intervals.
   */
  async checkOffline(): Promise<void> {
    if (this.checkingOffline) return;
    this.checkingOffline = true;
    try {
      for (;;) {
        const due = await this.store.dueOffline(Date.now(), OFFLINE_BATCH);
        for (const { userId, lastSeen } of due) {
          this.events.emit('user.offline', { userId, lastSeen });
        }
        if (due.length < OFFLINE_BATCH) return;
      }
    } catch (error) {
      this.failed(error);
    } finally {
      this.checkingOffline = false;
    }
  }

  /** Whether closes start offline graces: some handler cares whether a user is online. */
  private tracksGraces(): boolean {
    return this.events.wants('user.offline') || this.events.wants('user.online');
  }

  /** Called once the registry counts the connection for its user. */
  private connected(connection: Connection): void {
    const { userId } = connection.principal;
    if (userId === null || this.connections.countForUser(userId) > 1) return;
    // The store decides, atomically with the count: false too for a user back within their grace.
    this.store
      .connect(this.instanceId, userEntry(userId), this.deadline(), Date.now())
      .then((online) => {
        if (online) this.events.emit('user.online', { userId });
      }, this.failed);
  }

  /** Called once the registry no longer counts the connection. */
  private disconnected(connection: Connection): void {
    const { userId } = connection.principal;
    if (userId === null || this.connections.countForUser(userId) > 0) return;
    const lastSeen = Date.now();
    const graceUntil = this.tracksGraces()
      ? lastSeen + this.options.events.offlineGraceMs
      : undefined;
    this.store
      .disconnect(this.instanceId, userEntry(userId), lastSeen, graceUntil)
      .catch(this.failed);
  }

  private userChanged(connection: Connection, previousUserId: string | null): void {
    for (const topic of connection.topics) {
      if (!this.local.get(topic)?.has(connection.id)) continue;
      const slot = this.slot(connection, topic);
      this.store.leave(this.instanceId, { ...slot, userId: previousUserId }).catch(this.failed);
      this.local.get(topic)?.set(connection.id, slot.userId);
      this.store.join(this.instanceId, slot, this.deadline()).catch(this.failed);
    }
    this.connected(connection);
  }

  private unwatch(topic: string): void {
    const watched = this.watched.get(topic);
    if (watched && --watched.watchers === 0) this.watched.delete(topic);
  }

  private slot(connection: Connection, topic: string): PresenceSlot {
    return { topic, connectionId: connection.id, userId: connection.principal.userId };
  }

  private deadline(): number {
    return Date.now() + this.ttlMs;
  }
}

function userEntry(userId: string): UserSlot {
  return { connectionId: INSTANCE_USER_ENTRY, userId };
}
