import type Redis from 'ioredis';
import { orEngineUnavailable } from '../engine/engine-unavailable.error';
import { USER_ID_PATTERN } from '../protocol';
import type { RedisConnections } from '../redis/redis-connections.service';
import { RoundTripBatch } from '../redis/round-trip-batch';
import { entryMember, PresenceKeys, userMember } from './presence-keys';
import {
  type DueOffline,
  type PresenceChange,
  type PresenceChanges,
  type PresenceCounts,
  type PresencePage,
  type PresenceSweep,
  type PresenceSlot,
  type PresenceStore,
  type UserSlot,
  decodeCursor,
  encodeCursor,
} from './presence-store.port';
import {
  CHANGES_SCRIPT,
  COUNT_SCRIPT,
  DUE_OFFLINE_SCRIPT,
  FORGET_ONLINE_SCRIPT,
  JOIN_SCRIPT,
  LEAVE_SCRIPT,
  MEMBERS_SCRIPT,
  USERS_SCRIPT,
} from './redis-presence.scripts';

/** Expired entries a read sweeps at most (a crashed instance's are spread over a few reads). */
const SWEEP_BATCH = 5_000;
/** Entries renewed per script call (each call holds Redis for as long as it runs). */
const RENEW_CHUNK = 500;
/** Topics and users the cleanup job reads per round trip. */
const SWEEP_PAGE = 500;

type Reply = [number, number, ...unknown[]];

/** USERS_SCRIPT's modes: a renewal is a connect that also refreshes the user key's TTL. */
const UserCallMode = { Disconnect: 0, Connect: 1, Renew: 2 } as const;
type UserCallMode = (typeof UserCallMode)[keyof typeof UserCallMode];

/** A connect, renewal or disconnect of one user's connection, for USERS_SCRIPT. */
interface UserCall {
  mode: UserCallMode;
  key: string;
  member: string;
  userId: string;
  /** A connect's or renewal's; 0 for a disconnect. */
  deadline: number;
  now: number;
  /** A disconnect's grace end: its user's offline grace starts if it was their last connection. */
  graceUntil: number | undefined;
}

interface PresenceCommands {
  rtPresenceJoin(...args: Array<string | number>): Promise<null>;
  rtPresenceLeave(...args: Array<string | number>): Promise<null>;
  rtPresenceCount(...args: Array<string | number>): Promise<Reply>;
  rtPresenceMembers(...args: Array<string | number>): Promise<Reply>;
  rtPresenceChanges(...args: Array<string | number>): Promise<Reply>;
  rtPresenceUsers(...args: Array<string | number>): Promise<number[]>;
  rtPresenceForget(...args: Array<string | number>): Promise<number>;
  rtPresenceDueOffline(...args: Array<string | number>): Promise<string[]>;
}

export interface RedisPresenceOptions {
  /** Joins and leaves each topic's log keeps. */
  maxLogEntries: number;
  /** How long a topic's or user's keys outlive their last write (a few TTLs: renewals refresh it). */
  keepMs: number;
}

/**
 * Presence in Redis, shared by every instance (see docs/presence.md for the
 * keys and what each operation costs). Entries are scored by their deadline;
 * each instance renews its own (`renew`, one script per topic per interval).
 */
export class RedisPresenceStore implements PresenceStore {
  private readonly keys: PresenceKeys;
  private defined: (Redis & PresenceCommands) | undefined;
  /**
   * Connects and disconnects: one script call (one slot, `presence-users`)
   * per round trip, in the order they were made (no call while the previous
   * one is unanswered: a loaded instance gets about one handshake per turn).
   * A failed call fails only its own (the next renewal writes them again).
   */
  private readonly userCalls = new RoundTripBatch<UserCall, number>(
    (calls) => this.sendUserCalls(calls),
    { queuedOnFailure: 'send' },
  );

  constructor(
    private readonly redis: RedisConnections,
    private readonly options: RedisPresenceOptions,
  ) {
    this.keys = new PresenceKeys(redis.layout);
    // A new connection's inbox read follows its presence write (RedisOfflineStore.pending), and
    // the closes of shutdown's own connections still reach Redis.
    redis.connectWrites = this.userCalls;
    redis.drainOnShutdown(this.userCalls);
  }

  async join(instanceId: string, slot: PresenceSlot, deadline: number): Promise<void> {
    await this.joinAll(instanceId, slot.topic, [slot], deadline);
  }

  async leave(instanceId: string, slot: PresenceSlot): Promise<void> {
    const member = entryMember(instanceId, slot.connectionId, slot.userId);
    await orEngineUnavailable(
      this.client.rtPresenceLeave(
        ...this.keys.topic(slot.topic),
        this.options.maxLogEntries,
        member,
        slot.userId ?? '',
      ),
    );
  }

  async connect(
    instanceId: string,
    slot: UserSlot,
    deadline: number,
    now: number,
  ): Promise<boolean> {
    return (
      (await this.userCall(UserCallMode.Connect, instanceId, slot, deadline, now, undefined)) === 1
    );
  }

  async disconnect(
    instanceId: string,
    slot: UserSlot,
    now: number,
    graceUntil?: number,
  ): Promise<boolean> {
    return (
      (await this.userCall(UserCallMode.Disconnect, instanceId, slot, 0, now, graceUntil)) === 1
    );
  }

  async dueOffline(now: number, limit: number): Promise<DueOffline[]> {
    const reply = await orEngineUnavailable(
      this.client.rtPresenceDueOffline(this.keys.graces, this.keys.lastSeen, now, limit),
    );
    const due: DueOffline[] = [];
    for (let i = 0; i < reply.length; i += 2) {
      due.push({ userId: reply[i], lastSeen: Number(reply[i + 1]) });
    }
    return due;
  }

  async renew(
    instanceId: string,
    slots: readonly PresenceSlot[],
    users: readonly UserSlot[],
    deadline: number,
  ): Promise<void> {
    const byTopic = new Map<string, PresenceSlot[]>();
    for (const slot of slots) {
      const list = byTopic.get(slot.topic);
      if (list) list.push(slot);
      else byTopic.set(slot.topic, [slot]);
    }
    const calls: Promise<unknown>[] = [];
    for (const [topic, list] of byTopic) {
      for (let i = 0; i < list.length; i += RENEW_CHUNK) {
        calls.push(this.joinAll(instanceId, topic, list.slice(i, i + RENEW_CHUNK), deadline));
      }
    }
    for (const user of users) {
      calls.push(this.userCall(UserCallMode.Renew, instanceId, user, deadline, 0, undefined));
    }
    await Promise.all(calls);
  }

  async count(topic: string, now: number): Promise<PresenceCounts> {
    const [connections, users] = await orEngineUnavailable(
      this.client.rtPresenceCount(
        ...this.keys.topic(topic),
        this.options.maxLogEntries,
        now,
        SWEEP_BATCH,
      ),
    );
    return { connections, users };
  }

  async members(
    topic: string,
    cursor: string | undefined,
    limit: number,
    now: number,
  ): Promise<PresencePage> {
    const after = cursor === undefined ? '' : decodeCursor(cursor, isUserId);
    const [connections, users, names, counts, more] = (await orEngineUnavailable(
      this.client.rtPresenceMembers(
        ...this.keys.topic(topic),
        this.options.maxLogEntries,
        now,
        SWEEP_BATCH,
        after,
        limit,
      ),
    )) as [number, number, string[], Array<string | null>, number];
    return {
      connections,
      users,
      members: names.map((userId, i) => ({ userId, connections: Number(counts[i] ?? 0) })),
      cursor: more === 1 ? encodeCursor(names[names.length - 1]) : null,
    };
  }

  async changes(topic: string, cursor: string | undefined, now: number): Promise<PresenceChanges> {
    const [epoch = '', after = '0'] = cursor?.split(':') ?? [];
    const [connections, users, currentEpoch, seq, complete, log] = (await orEngineUnavailable(
      this.client.rtPresenceChanges(
        ...this.keys.topic(topic),
        this.options.maxLogEntries,
        now,
        SWEEP_BATCH,
        epoch,
        /^\d+$/.test(after) ? after : '-1',
      ),
    )) as [number, number, string, number, number, string[]];
    const changes =
      complete === 1
        ? log.map((entry): PresenceChange => [entry.slice(1), entry.startsWith('+')])
        : undefined;
    return { connections, users, cursor: `${currentEpoch}:${seq}`, changes };
  }

  async isOnline(userId: string, now: number): Promise<boolean> {
    const deadline = await orEngineUnavailable(this.redis.command.zscore(this.keys.online, userId));
    return deadline !== null && Number(deadline) > now;
  }

  async onlineUsers(now: number): Promise<number> {
    return orEngineUnavailable(this.redis.command.zcount(this.keys.online, `(${now}`, '+inf'));
  }

  async sweep(now: number): Promise<PresenceSweep> {
    const redis = this.redis.command;
    let removed = 0;
    for (let start = 0; ; start += SWEEP_PAGE) {
      const topics = await redis.zrange(this.keys.topics, start, start + SWEEP_PAGE - 1);
      const swept = await Promise.all(
        topics.map((topic) =>
          this.client.rtPresenceCount(
            ...this.keys.topic(topic),
            this.options.maxLogEntries,
            now,
            SWEEP_BATCH,
          ),
        ),
      );
      for (const reply of swept) removed += Number(reply[2]);
      if (topics.length < SWEEP_PAGE) break;
    }
    // A topic whose latest deadline has passed has no live entry left (all swept above).
    await redis.zremrangebyscore(this.keys.topics, '-inf', now);
    // Users whose latest deadline passed: every connection of theirs expired, none disconnected.
    const expired = await redis.zrangebyscore(
      this.keys.online,
      '-inf',
      now,
      'WITHSCORES',
      'LIMIT',
      0,
      SWEEP_PAGE,
    );
    const gone: PresenceSweep['gone'] = [];
    for (let i = 0; i < expired.length; i += 2) {
      gone.push({ userId: expired[i], deadline: Number(expired[i + 1]) });
    }
    // Their zsets' expired connections go (a zset left empty is gone with them).
    await Promise.all(
      gone.map(({ userId }) => redis.zremrangebyscore(this.keys.user(userId), '-inf', now)),
    );
    // Each removed only while still expired (a user who connected meanwhile has a later
    // deadline), and by one sweeper only: the users this call removed are the ones it reports.
    const reported: PresenceSweep['gone'] = [];
    for (const user of gone) {
      const taken = await this.client.rtPresenceForget(this.keys.online, user.userId, now);
      if (taken === 1) reported.push(user);
    }
    removed += reported.length;
    return { removed, gone: reported };
  }

  private async joinAll(
    instanceId: string,
    topic: string,
    slots: readonly PresenceSlot[],
    deadline: number,
  ): Promise<void> {
    const entries = slots.flatMap((slot) => [
      entryMember(instanceId, slot.connectionId, slot.userId),
      slot.userId ?? '',
    ]);
    await orEngineUnavailable(
      Promise.all([
        this.client.rtPresenceJoin(
          ...this.keys.topic(topic),
          this.options.maxLogEntries,
          this.options.keepMs,
          deadline,
          ...entries,
        ),
        this.redis.command.zadd(this.keys.topics, 'GT', deadline, topic),
      ]),
    );
  }

  private userCall(
    mode: UserCallMode,
    instanceId: string,
    slot: UserSlot,
    deadline: number,
    now: number,
    graceUntil: number | undefined,
  ): Promise<number> {
    const call: UserCall = {
      mode,
      key: this.keys.user(slot.userId),
      member: userMember(instanceId, slot.connectionId),
      userId: slot.userId,
      deadline,
      now,
      graceUntil,
    };
    return orEngineUnavailable(this.userCalls.add(call));
  }

  private sendUserCalls(calls: readonly UserCall[]): Promise<number[]> {
    const args: Array<string | number> = [this.options.keepMs];
    for (const call of calls) {
      args.push(
        call.mode,
        call.member,
        call.userId,
        call.deadline,
        call.now,
        call.graceUntil ?? '',
      );
    }
    return this.client.rtPresenceUsers(
      calls.length + 3,
      this.keys.online,
      this.keys.graces,
      this.keys.lastSeen,
      ...calls.map((call) => call.key),
      ...args,
    );
  }

  /** The shared command connection, with presence's scripts (sent by EVALSHA, loaded once). */
  private get client(): Redis & PresenceCommands {
    const client = this.redis.command;
    if (this.defined !== client) {
      const topicScript = (lua: string) => ({ numberOfKeys: 5, lua });
      client.defineCommand('rtPresenceJoin', topicScript(JOIN_SCRIPT));
      client.defineCommand('rtPresenceLeave', topicScript(LEAVE_SCRIPT));
      client.defineCommand('rtPresenceCount', topicScript(COUNT_SCRIPT));
      client.defineCommand('rtPresenceMembers', topicScript(MEMBERS_SCRIPT));
      client.defineCommand('rtPresenceChanges', topicScript(CHANGES_SCRIPT));
      client.defineCommand('rtPresenceUsers', { lua: USERS_SCRIPT });
      client.defineCommand('rtPresenceForget', { numberOfKeys: 1, lua: FORGET_ONLINE_SCRIPT });
      client.defineCommand('rtPresenceDueOffline', { numberOfKeys: 2, lua: DUE_OFFLINE_SCRIPT });
      this.defined = client as Redis & PresenceCommands;
    }
    return this.defined;
  }
}

function isUserId(value: string): boolean {
  return USER_ID_PATTERN.test(value);
}
