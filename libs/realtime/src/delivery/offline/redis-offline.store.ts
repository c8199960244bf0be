import type Redis from 'ioredis';
import { orEngineUnavailable } from '../../engine/engine-unavailable.error';
import type { RedisConnections } from '../../redis/redis-connections.service';
import { TurnBatch } from '../../redis/turn-batch';
import type { DeadLetter, OfflineMessage, OfflineStats } from './offline-message';
import { OfflineInboxFullError } from './offline-message';
import { type InboxLimits, type OfflineStore, serializeMessage } from './offline-store.port';
import {
  ACK,
  ADD_BATCH,
  ADD_FIELDS,
  ADD_HEADER,
  EXPIRE,
  EXPIRE_DUE,
  PENDING,
} from './redis-offline.scripts';

type Args = Array<string | number>;

interface OfflineCommands {
  rtOfflineAddBatch(...args: Args): Promise<string[][]>;
  rtOfflinePending(...args: Args): Promise<Array<string | null>>;
  rtOfflineAck(...args: Args): Promise<number>;
  rtOfflineExpire(...args: Args): Promise<string | null>;
  rtOfflineExpireDue(...args: Args): Promise<string[]>;
}

/** One `add` waiting for its turn's script call. */
interface InboxWrite {
  message: OfflineMessage;
  json: string;
  limits: InboxLimits;
}

/**
 * Inboxes in Redis: they survive restarts of every instance, and any instance
 * serves any user. Each operation is one Lua script, atomic per user; the
 * adds of one event-loop turn share one script call (TurnBatch). The
 * counters live in one hash, so `stats()` is cluster-wide, and every waiting
 * message's deadline in one sorted set, which `expireDue` sweeps. (Keys of
 * one user and the shared ones are touched together: on a cluster they all
 * share the `{offline}` hash tag, one slot.)
 */
export class RedisOfflineStore implements OfflineStore {
  private defined: (Redis & OfflineCommands) | undefined;
  private readonly writes = new TurnBatch<InboxWrite, string[]>((items) => this.addBatch(items));

  constructor(private readonly redis: RedisConnections) {}

  add(message: OfflineMessage, limits: InboxLimits): Promise<DeadLetter[]> {
    const json = serializeMessage(message);
    return this.writes
      .add({ message, json, limits }, json.length)
      .then(([status, ...rest]) => this.settleAdd(message, limits, status, rest));
  }

  async pending(userId: string, now: number): Promise<OfflineMessage[]> {
    const [inbox, messages] = this.userKeys(userId);
    const stored = await this.client.rtOfflinePending(inbox, messages);
    const waiting: OfflineMessage[] = [];
    for (const json of stored) {
      if (json === null) continue;
      const message = JSON.parse(json) as OfflineMessage;
      if (message.expiresAt > now) waiting.push(message);
    }
    return waiting;
  }

  ack(userId: string, ids: readonly string[]): Promise<number> {
    return this.client.rtOfflineAck(
      ...this.userKeys(userId),
      this.key('stats'),
      this.key('due'),
      userId,
      ...ids,
    );
  }

  async expire(
    userId: string,
    id: string,
    now: number,
    deadLetterLimit: number,
  ): Promise<DeadLetter | undefined> {
    const letter = await this.client.rtOfflineExpire(
      ...this.userKeys(userId),
      this.key('stats'),
      this.key('dead'),
      this.key('due'),
      id,
      now,
      deadLetterLimit,
      userId,
    );
    return letter === null ? undefined : (JSON.parse(letter) as DeadLetter);
  }

  async expireDue(now: number, limit: number, deadLetterLimit: number): Promise<DeadLetter[]> {
    const letters = await this.client.rtOfflineExpireDue(
      this.key('due'),
      this.key('stats'),
      this.key('dead'),
      now,
      limit,
      deadLetterLimit,
      this.key('inbox', ''),
      this.key('messages', ''),
      this.key('bytes', ''),
    );
    return letters.map((letter) => JSON.parse(letter) as DeadLetter);
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const letters = await this.redis.command.lrange(this.key('dead'), 0, limit - 1);
    return letters.map((letter) => JSON.parse(letter) as DeadLetter);
  }

  async stats(): Promise<OfflineStats> {
    const counts = await this.redis.command.hgetall(this.key('stats'));
    return {
      pending: Number(counts.pending ?? 0),
      delivered: Number(counts.delivered ?? 0),
      deadLettered: Number(counts.deadLettered ?? 0),
    };
  }

  private settleAdd(
    message: OfflineMessage,
    limits: InboxLimits,
    status: string,
    rest: string[],
  ): DeadLetter[] {
    if (status === 'too-large') {
      throw new OfflineInboxFullError(
        message.userId,
        `the message alone is over ${limits.maxBytes} bytes`,
      );
    }
    if (status === 'full') {
      throw new OfflineInboxFullError(
        message.userId,
        `${rest[0]} messages, ${rest[1]} bytes waiting`,
      );
    }
    return rest.map((letter) => JSON.parse(letter) as DeadLetter);
  }

  /**
   * One script call for the adds of a turn (one per run of adds with the same
   * limits: in practice all of them); one reply per add, in order. Redis down
   * or too slow rejects them all with EngineUnavailableError (503 over HTTP,
   * like a publish, not an internal error).
   */
  private async addBatch(writes: readonly InboxWrite[]): Promise<string[][]> {
    const calls: Array<Promise<string[][]>> = [];
    let start = 0;
    for (let i = 1; i <= writes.length; i++) {
      if (i < writes.length && sameLimits(writes[i].limits, writes[start].limits)) continue;
      calls.push(this.addRun(writes.slice(start, i)));
      start = i;
    }
    const replies = await orEngineUnavailable(Promise.all(calls));
    return replies.flat();
  }

  private addRun(writes: readonly InboxWrite[]): Promise<string[][]> {
    const { maxMessages, maxBytes, whenFull, deadLetterLimit } = writes[0].limits;
    const args: Args = [
      this.key('inbox', ''),
      this.key('messages', ''),
      this.key('bytes', ''),
      maxMessages,
      maxBytes,
      whenFull,
      deadLetterLimit,
    ];
    for (const { message, json } of writes) {
      args.push(message.id, json, message.ts, message.expiresAt, message.userId);
    }
    // The script's layout, kept in one place with it.
    if (args.length !== ADD_HEADER + ADD_FIELDS * writes.length) {
      throw new Error('offline add batch: arguments out of step with the script');
    }
    return this.client.rtOfflineAddBatch(
      this.key('stats'),
      this.key('dead'),
      this.key('seq'),
      this.key('due'),
      ...args,
    );
  }

  /** Every offline key is in the `offline` group: one hash slot on a cluster, as the scripts need. */
  private key(...parts: string[]): string {
    return this.redis.layout.group('offline', ...parts);
  }

  /** inbox, messages, bytes: the keys of one user. */
  private userKeys(userId: string): [string, string, string] {
    return [this.key('inbox', userId), this.key('messages', userId), this.key('bytes', userId)];
  }

  /** The shared command connection, with this store's scripts (sent by EVALSHA, loaded once). */
  private get client(): Redis & OfflineCommands {
    const client = this.redis.command;
    if (this.defined !== client) {
      client.defineCommand('rtOfflineAddBatch', { numberOfKeys: 4, lua: ADD_BATCH });
      client.defineCommand('rtOfflinePending', { numberOfKeys: 2, lua: PENDING });
      client.defineCommand('rtOfflineAck', { numberOfKeys: 5, lua: ACK });
      client.defineCommand('rtOfflineExpire', { numberOfKeys: 6, lua: EXPIRE });
      client.defineCommand('rtOfflineExpireDue', { numberOfKeys: 3, lua: EXPIRE_DUE });
      this.defined = client as Redis & OfflineCommands;
    }
    return this.defined;
  }
}

function sameLimits(a: InboxLimits, b: InboxLimits): boolean {
  return (
    a === b ||
    (a.maxMessages === b.maxMessages &&
      a.maxBytes === b.maxBytes &&
      a.whenFull === b.whenFull &&
      a.deadLetterLimit === b.deadLetterLimit)
  );
}
