import { Logger } from '@nestjs/common';
import type { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import { nodeLinks } from '../../redis/cluster-nodes';
import { hashSlot } from '../../redis/hash-slot';
import type { KeyLayout } from '../../redis/key-layout';
import { AT_MOST_ONCE, type RedisConnections } from '../../redis/redis-connections.service';
import { EngineUnavailableError } from '../engine-unavailable.error';
import { ErrorCode, RealtimeException } from '../../protocol';
import { type EngineHistoryOptions, HistoryLimitsResolver } from '../history-limits';
import { formatOffset, isAfterOffset, parseOffset } from '../offset';
import type {
  EngineCommand,
  EngineMessage,
  EngineSink,
  EngineStats,
  PublishedMessage,
  RealtimeEngine,
  Recovery,
  RevokeCommand,
} from '../realtime-engine.port';
import {
  decodeEntry,
  decodePublished,
  encodeCommand,
  encodePublish,
  parseCommand,
  parseCommands,
  revocationField,
  roundTrip,
  type StreamEntry,
} from './redis-engine.codec';
import { LinkWatch, type WatchedLink } from '../../redis/link-watch';
import { TurnBatch } from '../../redis/turn-batch';
import { type BatchReply, PublishBatch, type QueuedPublish } from './publish-batch';
import {
  INDEX_SCRIPT,
  PUBLISH_SCRIPT,
  RECOVER_SCRIPT,
  REFRESH_SCRIPT,
  REVOKE_SCRIPT,
} from './redis-engine.scripts';
import { ShardedSubscriber } from './sharded-subscriber';

export interface RedisEngineOptions extends EngineHistoryOptions {
  /** Revocations kept in Redis at most (the earliest expiry goes first). */
  maxRevocations: number;
  /** How long start() waits for Redis before the app starts unhealthy. */
  startTimeoutMs?: number;
  /** PINGs on the engine's connections that find a link open but dead (LinkWatch); none when unset. */
  linkCheck?: { intervalMs: number; timeoutMs: number };
}

const START_TIMEOUT_MS = 5_000;
/** How long a recovery waits for the subscriber to catch up after a reconnect before it fails. */
const SYNC_TIMEOUT_MS = 2_000;
/** Reads again at most this many times when a resync of the topic came while it waited. */
const RECOVER_ATTEMPTS = 3;
/** A re-subscription that failed (a command timed out) is tried again this much later. */
const RESYNC_RETRY_MS = 1_000;
/** A publish Redis does not answer in time fails instead of holding its caller forever. */
const PUBLISH_TIMEOUT_MS = 2_000;
const PING_TIMEOUT_MS = 1_000;
/** Revocations carry the revoking instance's clock: replay a margin before the disconnect. */
const CLOCK_SKEW_MS = 60_000;
/** Channels per SUBSCRIBE when re-subscribing after a reconnect. */
const SUBSCRIBE_BATCH = 500;

type RecoverReply = [epoch: string, sequence: number, recovered?: 0 | 1, entries?: StreamEntry[]];

/** A watched topic's live messages held back while it catches up, for the watch they came under. */
interface HeldBack {
  readonly watch: number;
  readonly live: EngineMessage[];
}

interface RefreshPipeline {
  realtimeRefresh(meta: string, idleTtlMs: number): RefreshPipeline;
  exec(): Promise<unknown>;
}

interface ScriptedRedis {
  realtimePublish(...args: (string | number)[]): Promise<BatchReply>;
  realtimeIndex(...args: (string | number)[]): Promise<string[]>;
  realtimeRecover(...args: (string | number)[]): Promise<RecoverReply>;
  realtimeRevoke(...args: (string | number)[]): Promise<number>;
  realtimeRefresh(...args: (string | number)[]): Promise<number>;
}

/**
 * Every instance on one Redis is one server. A publish runs one Lua script
 * that assigns the offset, appends to the topic's history stream and
 * PUBLISHes to the topic's channel, so every instance receives a topic's
 * messages in offset order. An instance SUBSCRIBEs to a topic's channel only
 * while it has local subscribers (watch/unwatch), so it gets none of the
 * traffic its clients don't need. Commands (broadcast, per-user send,
 * disconnect, revoke) go over one channel that every instance subscribes
 * to; revocations are also kept in Redis until they expire, and replayed to
 * the sink when the subscriber connects (all) or reconnects (those it missed).
 *
 * When Redis is unreachable, publish and commands reject at once with
 * EngineUnavailableError (no offline queue: nothing is held to be sent
 * later), and the engine is unhealthy. ioredis reconnects; the engine then
 * re-subscribes to every watched channel and catches up from history; where
 * history no longer covers what it missed, it tells the sink to resync the
 * topic (the clients get `recovered: false`) instead of leaving a silent gap.
 */
export class RedisEngine implements RealtimeEngine {
  readonly name = 'redis';
  private readonly logger = new Logger('Realtime');
  /**
   * Topics with local subscribers, each with its watch's number. A topic
   * unwatched and watched again is another watch: what was read, held or
   * delivered under the earlier one says nothing of where the new one is.
   */
  private readonly watched = new Map<string, number>();
  /** The number of the latest watch. */
  private watches = 0;
  /** The last offset handed to the sink per watched topic: where to catch up from after a reconnect. */
  private readonly lastDelivered = new Map<string, string>();
  /** Topics catching up after a reconnect: live messages wait here until the missed ones are out. */
  private catchingUp: Map<string, HeldBack> | undefined;
  /** Topics whose catch-up could not read history: their next message is announced as a resync. */
  private readonly unsure = new Set<string>();
  /** Bumped by every resync: a recovery that waited across one reads again. */
  private resyncs = 0;
  /** Callers waiting for the subscriber to be synced (start-up, recoveries). */
  private readonly syncWaiters = new Set<() => void>();
  /** The PING the recoveries of this turn share (see fence()). */
  private pendingFence: Promise<void> | undefined;
  /** The topics the pending fence is for, unless it is for every channel (a catch-up). */
  private readonly fenced = new Set<string>();
  private fencesAll = false;
  /** The next attempt of a re-subscription that failed. */
  private retry: NodeJS.Timeout | undefined;
  private readonly layout: KeyLayout;
  private readonly commandChannel: string;
  private readonly limits: HistoryLimitsResolver;
  /** How often watched topics' metas are kept up, and how long one lives without a publish. */
  private readonly refreshMs: number;
  private readonly idleMetaTtlMs: number;
  private sink: EngineSink | undefined;
  private subscriber: Redis | undefined;
  private publisher: (Redis & ScriptedRedis) | undefined;
  /** True once the subscriber has (re)subscribed to every channel since it last connected. */
  private synced = false;
  /**
   * Bumped by every close and every (re)connect of the subscriber: a resync
   * still running for an earlier link (its reads go through the command
   * connection, which stayed up) must not mark the engine synced nor deliver
   * its catch-up beside the newer link's.
   */
  private link = 0;
  /** When the subscriber last lost a synced connection: revocations older than that are known. */
  private disconnectedAt: number | undefined;
  private refresher: NodeJS.Timeout | undefined;
  private linkWatch: LinkWatch | undefined;
  private closed = false;
  private published = 0;
  /** Whether the last topics index update failed (logged once per outage). */
  private indexFailing = false;
  private readonly batch: PublishBatch;
  private readonly commands = new TurnBatch<string, void>((messages) =>
    this.publishCommands(messages),
  );
  private received = 0;

  constructor(
    private readonly redis: RedisConnections,
    private readonly options: RedisEngineOptions,
  ) {
    this.layout = redis.layout;
    this.commandChannel = this.layout.commandChannel;
    this.batch = new PublishBatch(
      (publishes) => this.sendBatch(publishes),
      // On a cluster each script call touches one topic slot.
      this.layout.cluster ? (topic) => hashSlot(this.layout.topic('meta', topic)) : undefined,
    );
    this.limits = new HistoryLimitsResolver(options);
    this.refreshMs = Math.min(60_000, Math.max(100, this.limits.shortestTtlMs / 3));
    this.idleMetaTtlMs = Math.ceil(2 * this.refreshMs);
  }

  attach(sink: EngineSink): void {
    this.sink = sink;
  }

  async start(): Promise<void> {
    const command = this.redis.command;
    command.defineCommand('realtimeRecover', { numberOfKeys: 2, lua: RECOVER_SCRIPT });
    command.defineCommand('realtimeRevoke', { numberOfKeys: 2, lua: REVOKE_SCRIPT });
    command.defineCommand('realtimeRefresh', { numberOfKeys: 1, lua: REFRESH_SCRIPT });
    // Publishes have a connection of their own, so that a turn's batch (PublishBatch) never
    // waits behind the recoveries and reads of the shared connection. The batch is already one
    // command per turn, sent at the turn's end: it is written at once, not a turn later.
    const publisher = this.redis.open(
      'publisher',
      AT_MOST_ONCE,
      { commandTimeout: PUBLISH_TIMEOUT_MS },
      { turnBatched: false },
    );
    publisher.defineCommand('realtimePublish', { numberOfKeys: 1, lua: PUBLISH_SCRIPT });
    publisher.defineCommand('realtimeIndex', { numberOfKeys: 1, lua: INDEX_SCRIPT });
    this.publisher = publisher as Redis & ScriptedRedis;
    const cluster = this.redis.cluster;
    // On a cluster: one subscriber connection per master of a watched slot (sharded pub/sub).
    const subscriber = cluster
      ? (new ShardedSubscriber(this.redis, cluster) as unknown as Redis)
      : this.redis.open('subscriber', { autoResubscribe: false, enableOfflineQueue: false });
    this.subscriber = subscriber;
    subscriber.on('message', this.onMessage);
    subscriber.on('ready', () => {
      clearTimeout(this.retry);
      void this.resync(subscriber);
    });
    subscriber.on('close', () => {
      clearTimeout(this.retry);
      this.link++;
      if (this.synced) this.disconnectedAt = Date.now();
      this.synced = false;
    });
    this.refresher = setInterval(() => void this.refreshWatched(), this.refreshMs);
    this.refresher.unref();
    this.watchLinks(subscriber, publisher);
    const timeoutMs = this.options.startTimeoutMs ?? START_TIMEOUT_MS;
    const startedAt = Date.now();
    const synced = await this.untilSynced(timeoutMs).then(
      () => true,
      () => false,
    );
    // Synced says nothing of the publish connection: started, the engine takes publishes.
    const ready = synced && (await whenReady(publisher, startedAt + timeoutMs - Date.now()));
    if (!ready) {
      this.logger.warn(`Redis not reachable after ${timeoutMs} ms: starting unhealthy, retrying`);
    }
  }

  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    clearInterval(this.refresher);
    this.refresher = undefined;
    this.linkWatch?.stop();
    this.linkWatch = undefined;
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    this.publisher = undefined;
    this.synced = false;
    // The connections themselves are closed with the others by RedisConnections.
    subscriber?.off('message', this.onMessage);
    const sharded: unknown = subscriber;
    if (sharded instanceof ShardedSubscriber) sharded.disconnect();
    return Promise.resolve();
  }

  /**
   * A subscriber whose link is open but dead gets no 'close', so it would
   * neither reconnect nor re-subscribe: revocations and topic messages would
   * stop reaching this instance, with no replay ever (replayRevocations runs
   * on a reconnect). The replay and catch-up read through the command
   * connection, and publishes use their own: all three are watched. Dropped
   * by LinkWatch, a link reconnects and resyncs as after any other drop,
   * within the PING interval plus its timeout, far inside CLOCK_SKEW_MS.
   * On a cluster each of the three is one connection per node, opened and
   * dropped as the slot map changes: the ones that exist at each round are
   * watched. ioredis forgets a dropped node connection of the command or
   * publish client and opens a new one when a command for its slots is
   * answered MOVED (or at its next slot map refresh); a dropped sharded
   * subscriber connection reconnects, and the engine resyncs.
   */
  private watchLinks(subscriber: Redis, publisher: Redis): void {
    const check = this.options.linkCheck;
    if (!check) return;
    const command = this.redis.command;
    const cluster = this.redis.cluster;
    const links: () => WatchedLink[] = cluster
      ? () => [
          ...(subscriber as unknown as ShardedSubscriber).links(),
          ...nodeLinks('command', cluster),
          ...nodeLinks('publisher', publisher as unknown as Cluster),
        ]
      : () => [
          ['subscriber', subscriber],
          ['command', command],
          ['publisher', publisher],
        ];
    this.linkWatch = new LinkWatch(links, {
      ...check,
      onDead: (name) =>
        this.logger.warn(
          `redis ${name} connection: no answer to PING within ${check.timeoutMs} ms (reconnecting)`,
        ),
    });
    this.linkWatch.start();
  }

  async publish(topic: string, type: string, payload: unknown): Promise<PublishedMessage> {
    this.assertReady(this.publisher);
    const data = encodePublish(type, payload);
    const { offset, ts } = await new Promise<{ offset: string; ts: number }>((resolve, reject) =>
      this.batch.add({ topic, data, resolve, reject }),
    );
    this.published++;
    return { topic, offset, ts };
  }

  /**
   * One script call for a turn's publishes (PublishBatch), on the publish
   * connection: its reply is theirs. On a cluster (one slot's publishes) the
   * topics index, in a slot of its own, is updated next (see index()).
   */
  private async sendBatch(publishes: readonly QueuedPublish[]): Promise<BatchReply> {
    const cluster = this.layout.cluster;
    const args: Array<string | number> = [
      cluster ? 'SPUBLISH' : 'PUBLISH',
      cluster ? 0 : this.options.maxHistoryTopics,
      this.layout.topic('meta', ''),
      this.layout.topic('history', ''),
      this.limits.longestTtlMs,
    ];
    for (const { topic, data } of publishes) {
      const { size, maxBytes, ttlMs } = this.limits.of(topic);
      const keys = ['meta', 'history', 'topic'] as const;
      args.push(topic, ...keys.map((kind) => this.layout.topic(kind, topic)));
      args.push(data, size, maxBytes, ttlMs);
    }
    const firstKey = cluster
      ? this.layout.topic('meta', publishes[0].topic)
      : this.layout.topicsIndex;
    const reply = await this.run(this.publisher, (redis) =>
      redis.realtimePublish(firstKey, ...args),
    );
    if (cluster) await this.index(publishes.map((publish) => publish.topic));
    return reply;
  }

  /**
   * The cluster's topics index after a batch: bumps its topics, and the
   * topics it evicts past `maxTopics` lose their history (each topic's keys
   * in one call). Awaited, so that the bound holds once a publish returns
   * (each step bounded by the command timeout); but the publishes were
   * stored and sent already, so a failure here (the index's master out of
   * memory, or not answering in time) is logged, never theirs: failed, they
   * would be retried and published twice. What a failed update costs: the
   * batch's topics keep their earlier place in the index (one new to it
   * stays out of the bound until its next publish, its history expiring
   * with its TTL meanwhile), the topics past the bound lose their history at
   * the next update instead, and an evicted topic whose keys could not be
   * deleted keeps its history until its TTL.
   */
  private async index(topics: string[]): Promise<void> {
    try {
      const evicted = await this.run(this.publisher, (redis) =>
        redis.realtimeIndex(
          this.layout.topicsIndex,
          this.options.maxHistoryTopics,
          this.limits.longestTtlMs,
          ...new Set(topics),
        ),
      );
      await Promise.all(
        evicted.map((topic) =>
          this.run(this.publisher, (redis) =>
            redis.del(this.layout.topic('meta', topic), this.layout.topic('history', topic)),
          ),
        ),
      );
      if (this.indexFailing) this.logger.log('topics index updated again');
      this.indexFailing = false;
    } catch (error) {
      // Once per outage: every batch of every publisher would otherwise log it.
      if (this.indexFailing) return;
      this.indexFailing = true;
      this.logger.warn(
        `topics index update failed: ${(error as Error).message} (the publishes went out)`,
      );
    }
  }

  command(command: EngineCommand): Promise<void> {
    let message: string;
    try {
      message = encodeCommand(command);
    } catch {
      // Only a payload can fail to serialize: say so as the memory engine does.
      return Promise.reject(
        new RealtimeException(ErrorCode.BadRequest, 'payload is not JSON-serializable'),
      );
    }
    if (command.kind !== 'revoke') {
      // Not queued while Redis is away: it fails at once, like a publish.
      const status = this.redis.command.status;
      if (status !== 'ready') {
        return Promise.reject(new EngineUnavailableError(`Redis connection is ${status}`));
      }
      return this.commands.add(message, message.length);
    }
    return this.revoke(command, message);
  }

  private async revoke(command: RevokeCommand, message: string): Promise<void> {
    // The commands queued before it leave first, in call order, on the same connection.
    this.commands.flush();
    await this.run(this.redis.command, (redis) =>
      redis.realtimeRevoke(
        this.layout.revocations,
        this.layout.revocationExpiry,
        revocationField(command),
        message,
        command.expiresAt,
        this.options.maxRevocations,
        this.commandChannel,
        this.layout.cluster ? 'SPUBLISH' : 'PUBLISH',
      ),
    );
  }

  /**
   * The commands of one turn (a burst of notifications, say) in one PUBLISH
   * (SPUBLISH on a cluster): one JSON array when there are several, the
   * command itself when alone.
   */
  private async publishCommands(messages: readonly string[]): Promise<void[]> {
    const raw = messages.length === 1 ? messages[0] : `[${messages.join(',')}]`;
    await this.run(this.redis.command, (redis) =>
      this.layout.cluster
        ? redis.spublish(this.commandChannel, raw)
        : redis.publish(this.commandChannel, raw),
    );
    return [];
  }

  /**
   * Reads the topic's history, then waits until every message published
   * before that read has reached the sink (fence()): the caller holds back
   * live messages until it has sent the recovery, and one still on its way
   * would otherwise come after it, twice or out of order. A resync of the
   * topic while it waited (history lost meanwhile) makes it read again.
   *
   * A subscribe without `since` to a topic this instance already follows
   * reads nothing: once the fence is back, the last message delivered here
   * is at least the head Redis had when the subscribe came, and every later
   * one is still to be delivered here. A storm of new subscribers to one
   * topic then costs its master nothing (a read each, before).
   */
  async recover(topic: string, since: string | undefined): Promise<Recovery> {
    if (since === undefined && this.followedHead(topic) !== undefined) {
      const resyncs = this.resyncs;
      await this.fence(topic);
      const head = this.followedHead(topic);
      if (head !== undefined && this.resyncs === resyncs) {
        return { offset: head, recovered: undefined, messages: [] };
      }
    }
    for (let attempt = 1; ; attempt++) {
      const resyncs = this.resyncs;
      const watch = this.watched.get(topic);
      const recovery = await this.readHistory(topic, since);
      if (!this.synced) await this.untilSynced(SYNC_TIMEOUT_MS);
      await this.fence(topic);
      if (this.resyncs !== resyncs && attempt < RECOVER_ATTEMPTS) continue;
      // A watched topic's catch-up starts from here until a message is delivered. Not a later
      // watch's: it was not subscribed when this was read, so messages may lie between.
      const sameWatch = watch !== undefined && this.watched.get(topic) === watch;
      if (sameWatch && !this.lastDelivered.has(topic)) {
        this.lastDelivered.set(topic, recovery.offset);
      }
      return recovery;
    }
  }

  /** The last offset delivered here of a topic whose every later message will be delivered here too. */
  private followedHead(topic: string): string | undefined {
    if (!this.synced || !this.watched.has(topic) || this.unsure.has(topic)) return undefined;
    return this.lastDelivered.get(topic);
  }

  /** The recover script: the head, and with `since` the messages after it or `recovered: false`. */
  private async readHistory(topic: string, since: string | undefined): Promise<Recovery> {
    const position = since === undefined ? undefined : parseOffset(since);
    const [epoch, sequence, recovered, entries] = await this.run(this.redis.command, (redis) =>
      redis.realtimeRecover(
        this.layout.topic('meta', topic),
        this.layout.topic('history', topic),
        // An offset that does not parse can match no epoch.
        since === undefined ? '' : String(position?.epoch ?? 'none'),
        position?.sequence ?? 0,
        this.limits.of(topic).ttlMs,
        // A subscribe remembers the epoch it hands out only while watched (refreshWatched).
        this.idleMetaTtlMs,
      ),
    );
    const offset = `${epoch}-${sequence}`;
    if (since === undefined) return { offset, recovered: undefined, messages: [] };
    if (recovered !== 1) return { offset, recovered: false, messages: [] };
    const messages = (entries ?? []).flatMap((entry) => decodeEntry(topic, epoch, entry) ?? []);
    return { offset, recovered: true, messages };
  }

  async watch(topic: string): Promise<void> {
    const subscriber = this.subscriber;
    if (subscriber?.status !== 'ready') {
      throw new EngineUnavailableError(
        `Redis subscriber is ${subscriber?.status ?? 'not started'}`,
      );
    }
    const watch = ++this.watches;
    this.watched.set(topic, watch);
    // A new watch has no position until its first recovery or message.
    this.lastDelivered.delete(topic);
    try {
      await subscriber.subscribe(this.layout.topic('topic', topic));
    } catch (error) {
      // Taken back (unless a later watch took over): a SUBSCRIBE that only timed out here may
      // still reach Redis, and the sharded subscriber keeps routing a channel it was given.
      if (this.watched.get(topic) === watch) {
        this.watched.delete(topic);
        void this.unsubscribe(topic);
      }
      throw new EngineUnavailableError((error as Error).message);
    }
  }

  async unwatch(topic: string): Promise<void> {
    this.watched.delete(topic);
    this.lastDelivered.delete(topic);
    this.unsure.delete(topic);
    await this.unsubscribe(topic);
  }

  /** Stops the topic's channel on this instance's subscriber. Best effort: never rejects. */
  private async unsubscribe(topic: string): Promise<void> {
    const channel = this.layout.topic('topic', topic);
    const subscriber = this.subscriber;
    const sharded: unknown = subscriber;
    if (sharded instanceof ShardedSubscriber) {
      // In sync or not: it routes every channel it was given (and re-routes them after a
      // reconnect) until told otherwise, and its links that are up stay subscribed.
      await sharded.unsubscribe(channel).catch(() => undefined);
    } else if (subscriber?.status === 'ready') {
      // Not subscribed while disconnected: the re-subscription after a reconnect leaves it out.
      await subscriber.unsubscribe(channel).catch(() => undefined);
    }
  }

  isAfter(offset: string, head: string): boolean {
    return isAfterOffset(offset, head);
  }

  async stats(): Promise<EngineStats> {
    const roundTripMs = await this.ping();
    let historyTopics = 0;
    if (roundTripMs !== undefined) {
      historyTopics = await this.redis.command.zcard(this.layout.topicsIndex).catch(() => 0);
    }
    return {
      engine: this.name,
      state: this.state(roundTripMs),
      historyTopics,
      watchedTopics: this.watched.size,
      published: this.published,
      received: this.received,
      ...(roundTripMs === undefined ? {} : { roundTripMs }),
    };
  }

  async isHealthy(): Promise<boolean> {
    return this.state(await this.ping()) === 'up';
  }

  private state(roundTripMs: number | undefined): string {
    const command = this.redis.command.status;
    if (command !== 'ready') return `command connection ${command}`;
    const publisher = this.publisher?.status ?? 'closed';
    if (publisher !== 'ready') return `publish connection ${publisher}`;
    if (!this.synced) return `subscriber ${this.subscriber?.status ?? 'closed'}`;
    return roundTripMs === undefined ? 'no answer to PING' : 'up';
  }

  private ping(): Promise<number | undefined> {
    return roundTrip(this.redis.command, PING_TIMEOUT_MS);
  }

  /** Runs a command now, or rejects at once when its connection is not ready. */
  private async run<T>(
    connection: Redis | undefined,
    send: (redis: Redis & ScriptedRedis) => Promise<T>,
  ): Promise<T> {
    this.assertReady(connection);
    try {
      return await send(connection as Redis & ScriptedRedis);
    } catch (error) {
      throw new EngineUnavailableError((error as Error).message);
    }
  }

  private assertReady(connection: Redis | undefined): void {
    if (connection?.status !== 'ready') {
      throw new EngineUnavailableError(
        `Redis connection is ${connection?.status ?? 'not started'}`,
      );
    }
  }

  /** After every (re)connect: subscribe to the command channel and every watched topic, then replay revocations. */
  private async resync(subscriber: Redis): Promise<void> {
    if (this.closed) return;
    const link = ++this.link;
    // Live messages wait from the first SUBSCRIBE on, until the missed ones are delivered.
    const waiting = this.holdBackLive();
    try {
      const channels = [
        this.commandChannel,
        ...[...this.watched.keys()].map((t) => this.layout.topic('topic', t)),
      ];
      for (let i = 0; i < channels.length; i += SUBSCRIBE_BATCH) {
        await subscriber.subscribe(...channels.slice(i, i + SUBSCRIBE_BATCH));
      }
      // The command connection reconnects on its own schedule.
      await whenReady(this.redis.command, START_TIMEOUT_MS);
      await this.replayRevocations();
      if (link !== this.link) return;
      await this.catchUp(waiting);
      if (link !== this.link) return;
      this.synced = true;
      this.disconnectedAt = undefined;
      for (const waiter of this.syncWaiters) waiter();
      this.syncWaiters.clear();
    } catch (error) {
      if (link !== this.link) return;
      // Until it succeeds the instance has not caught up nor replayed the revocations it missed.
      this.logger.warn(`Redis re-subscription failed: ${(error as Error).message} (retrying)`);
      if (!this.closed && subscriber.status === 'ready') {
        this.retry = setTimeout(() => void this.resync(subscriber), RESYNC_RETRY_MS);
      }
    } finally {
      this.releaseLive(waiting);
    }
  }

  /** Topics delivered before this (re)connect: their live messages are held until caught up. */
  private holdBackLive(): Map<string, HeldBack> {
    const waiting = new Map<string, HeldBack>();
    for (const [topic, watch] of this.watched) {
      if (this.lastDelivered.has(topic)) waiting.set(topic, { watch, live: [] });
    }
    this.catchingUp = waiting;
    return waiting;
  }

  /**
   * Whether messages held for a topic still have their watch. Once its last
   * local subscriber left (unwatch forgot where it was), they have no one
   * to go to, and a catch-up must not give the topic a position again.
   */
  private stillWatched(topic: string, held: HeldBack): boolean {
    return this.watched.get(topic) === held.watch;
  }

  /**
   * Messages published while the subscriber was away (Redis itself up, for
   * the publishers) are read back from history and delivered before the
   * live ones that arrived meanwhile, so local subscribers see no gap. When
   * the history no longer has them (Redis restarted, flushed or trimmed
   * past them), the sink is told to resync the topic from its head: the
   * clients get `recovered: false`, and the next messages follow the head.
   */
  private async catchUp(waiting: Map<string, HeldBack>): Promise<void> {
    // One round trip per topic, all in flight at once (ioredis pipelines them).
    const topics = [...waiting.keys()];
    const recoveries = await Promise.all(topics.map((topic) => this.readMissed(topic)));
    // Live messages published before those reads are still on their way: let them arrive (held).
    await this.fence().catch(() => undefined);
    topics.forEach((topic, i) => {
      const held = waiting.get(topic);
      waiting.delete(topic);
      if (!held || !this.stillWatched(topic, held)) return;
      const recovery = recoveries[i];
      // Read this time: what an earlier failed attempt could not know is known now.
      if (recovery) this.unsure.delete(topic);
      if (recovery?.recovered === true) {
        for (const message of recovery.messages) this.deliverIfNew(message);
      } else if (recovery) {
        this.announceResync(topic, recovery.offset);
      } else {
        this.unsure.add(topic);
      }
      for (const message of held.live) this.deliverIfNew(message);
    });
  }

  /** What a topic missed since its last delivery; nothing to read for one unwatched meanwhile. */
  private readMissed(topic: string): Promise<Recovery | undefined> {
    const last = this.lastDelivered.get(topic);
    if (last === undefined) return Promise.resolve(undefined);
    return this.readHistory(topic, last).catch(() => undefined);
  }

  /** Catch-up's delivery: a message another path (an earlier link's resync) delivered is not sent twice. */
  private deliverIfNew(message: EngineMessage): void {
    const last = this.lastDelivered.get(message.topic);
    if (last === undefined || isAfterOffset(message.offset, last)) this.deliverLive(message);
  }

  /**
   * Whatever is still held back goes out as it came, after a resync (a failed
   * re-subscription); a resync overtaken by a newer link's hands its held
   * messages to that one's catch-up instead, which delivers them in order.
   */
  private releaseLive(waiting: Map<string, HeldBack>): void {
    if (this.catchingUp === waiting) this.catchingUp = undefined;
    for (const [topic, held] of waiting) {
      if (!this.stillWatched(topic, held)) continue;
      const newer = this.catchingUp?.get(topic);
      if (newer) {
        newer.live.unshift(...held.live);
        continue;
      }
      this.unsure.add(topic);
      for (const message of held.live) this.deliverLive(message);
    }
    waiting.clear();
  }

  private announceResync(topic: string, head: string): void {
    this.resyncs++;
    this.lastDelivered.set(topic, head);
    this.sink?.resync(topic, head);
  }

  private deliverLive(message: EngineMessage): void {
    // A catch-up that could not read history: what it missed is unknown, so resync to just before.
    if (this.unsure.delete(message.topic)) {
      this.announceResync(message.topic, offsetBefore(message.offset));
    }
    this.lastDelivered.set(message.topic, message.offset);
    this.sink?.deliver(message);
  }

  /** Resolves once the subscriber is synced; rejects after `ms`. */
  private untilSynced(ms: number): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.syncWaiters.delete(done);
        reject(new EngineUnavailableError('Redis subscriber is not synced'));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.syncWaiters.add(done);
    });
  }

  /**
   * A PING on the subscriber connection, sent after the caller's read was
   * answered: Redis answers it after every message it published before that
   * read, so once it is back those messages have reached onMessage. The
   * callers of one turn share one PING. On a cluster a topic's messages come
   * from its slot's master only: a turn's recoveries ping the masters of
   * their topics, a catch-up (`topic` undefined) every master with channels.
   */
  private fence(topic?: string): Promise<void> {
    if (topic === undefined) this.fencesAll = true;
    else this.fenced.add(topic);
    this.pendingFence ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      this.pendingFence = undefined;
      const channels = this.fencesAll
        ? undefined
        : [...this.fenced].map((fenced) => this.layout.topic('topic', fenced));
      this.fencesAll = false;
      this.fenced.clear();
      const subscriber = this.subscriber;
      if (subscriber?.status !== 'ready') {
        throw new EngineUnavailableError(`Redis subscriber is ${subscriber?.status ?? 'closed'}`);
      }
      const sharded: unknown = subscriber;
      try {
        await (sharded instanceof ShardedSubscriber ? sharded.ping(channels) : subscriber.ping());
      } catch (error) {
        throw new EngineUnavailableError((error as Error).message);
      }
    });
    return this.pendingFence;
  }

  /**
   * Hands stored, unexpired revocations to the sink: all of them at start-up
   * (a node started later learns earlier ones), after a reconnect only those
   * made since the subscriber went down (applying one scans the connections).
   */
  private async replayRevocations(): Promise<void> {
    const stored = await this.redis.command.hvals(this.layout.revocations);
    const now = Date.now();
    const since =
      this.disconnectedAt === undefined ? -Infinity : this.disconnectedAt - CLOCK_SKEW_MS;
    for (const raw of stored) {
      const command = parseCommand(raw);
      if (command?.kind !== 'revoke' || command.expiresAt <= now || command.at < since) continue;
      this.sink?.execute(command);
    }
  }

  /**
   * Keeps the epoch of topics with local subscribers alive while they wait
   * for a first publish; once none watches, the meta expires within the idle
   * TTL (unless a publish gave it longer).
   */
  private async refreshWatched(): Promise<void> {
    const command = this.redis.command;
    if (command.status !== 'ready' || this.watched.size === 0) return;
    if (this.layout.cluster) {
      // A cluster pipeline may not span slots: one call per topic, sent together.
      const scripted = command as Redis & ScriptedRedis;
      await Promise.all(
        [...this.watched.keys()].map((topic) =>
          scripted
            .realtimeRefresh(this.layout.topic('meta', topic), this.idleMetaTtlMs)
            .catch(() => undefined),
        ),
      );
      return;
    }
    // A pipeline has the scripts defined on its connection; ioredis's types do not say so.
    const pipeline = command.pipeline() as unknown as RefreshPipeline;
    for (const topic of this.watched.keys()) {
      pipeline.realtimeRefresh(this.layout.topic('meta', topic), this.idleMetaTtlMs);
    }
    await pipeline.exec().catch(() => undefined);
  }

  private readonly onMessage = (channel: string, raw: string): void => {
    if (channel === this.commandChannel) {
      const parsed = parseCommands(raw);
      if (parsed) for (const command of parsed) this.sink?.execute(command);
      return;
    }
    const topic = this.layout.topicOfChannel(channel);
    if (topic === undefined) return;
    this.received++;
    const watch = this.watched.get(topic);
    if (watch === undefined) return;
    const message = decodePublished(topic, raw);
    if (!message) return;
    // Messages held for an earlier watch of the topic: this watch is not catching up.
    const held = this.catchingUp?.get(topic);
    if (held?.watch === watch) held.live.push(message);
    else this.deliverLive(message);
  };
}

/** The offset right before `offset` in its epoch (`<epoch>-0` before the first). */
function offsetBefore(offset: string): string {
  const position = parseOffset(offset);
  return position ? formatOffset(position.epoch, Math.max(0, position.sequence - 1)) : offset;
}

/** Resolves true once the connection is ready, false if it is not within `ms`. */
function whenReady(connection: Redis, ms: number): Promise<boolean> {
  if (connection.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      connection.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), Math.max(0, ms));
    // A wait still running at shutdown (Redis away) does not hold the process open.
    timer.unref();
    connection.once('ready', onReady);
  });
}
