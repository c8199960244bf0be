import { Logger } from '@nestjs/common';
import type { ChainableCommander } from 'ioredis';
import type Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { ResolvedRealtimeOptions } from '../../options/resolved-options';
import type { RedisConnections } from '../../redis/redis-connections.service';
import {
  Admission,
  type AdmissionMode,
  type AdmissionRefusal,
  type AdmissionRequest,
} from './admission.port';
import { AdmissionKeys } from './admission-keys';
import { IP_REFUSAL, rateRefusal, USER_REFUSAL } from './admission-refusals';
import {
  FORGET_INSTANCE_SCRIPT,
  RESERVE_BATCH_SCRIPT,
  SET_COUNTS_SCRIPT,
} from './admission.scripts';
import { ConnectionTally, type HeldSlot } from './connection-tally';
import { ADMISSION_COMMAND_TIMEOUT_MS } from './admission.constants';
import { RoundTripBatch, BatchClosedError } from '../../redis/round-trip-batch';
import { SlotAdmission, type SlotReservation, type SlotReserveReply } from './slot-admission';

/** Count hashes per SET_COUNTS call at most: a script call holds Redis while it runs. */
const MAX_KEYS_PER_WRITE = 500;

type ReserveReply = SlotReserveReply;

type Args = Array<string | number>;

/** multi() with the scripts defined on the connection. */
type AdmissionMulti = ChainableCommander & {
  rtAdmissionSet(...args: Args): AdmissionMulti;
  rtAdmissionForget(...args: Args): AdmissionMulti;
};

interface AdmissionCommands {
  rtAdmissionReserve(...args: Array<string | number>): Promise<number[]>;
  rtAdmissionSet(...args: Array<string | number>): Promise<number>;
  rtAdmissionForget(...args: Array<string | number>): Promise<number>;
}

/**
 * Admission counted across every instance on one Redis: one script call for
 * the handshakes that arrived since the previous call was sent (connect
 * rate, IP and user counts, and the reservations, in one round trip; no
 * call while the previous one is unanswered: RoundTripBatch), and one per
 * turn for the counts its closes changed. Each instance writes only its own
 * field of each count, as absolute values from its tally, and keeps a
 * liveness key alive; a crashed instance's fields stop counting when that
 * key expires (two cleanup intervals) and the cleanup job deletes them.
 *
 * An anonymous connection that signs in (`auth`) reserves its user's slot
 * the same way, as a handshake's user step alone (reserveUser), held on its
 * WebSocket until that closes.
 *
 * A reservation writes its count as it was when the handshake arrived: a
 * release of the same key while it waited is written again once it is
 * answered, so the last write of a key is always the tally's.
 *
 * While Redis does not answer (a call takes over a second), a handshake is
 * admitted on the handshake's local checks alone (this process's
 * connections and connect-rate window: a client may get up to the limit on
 * each instance, never more); once Redis answers again the instance writes
 * its whole tally back and cluster counts resume.
 */
export class RedisAdmission extends Admission {
  readonly instanceId = randomUUID();
  private readonly logger = new Logger('Realtime');
  private readonly keys: AdmissionKeys;
  private readonly tally = new ConnectionTally((slot) => this.released(slot));
  private readonly connection: Redis & AdmissionCommands;
  private readonly aliveTtlMs: number;
  private readonly ticker: NodeJS.Timeout;
  /** Some write did not reach Redis: the next tick writes the whole tally again. */
  private dirty = true;
  private stopping = false;
  /** Whether this instance has sent Redis a count yet (one Redis; SlotAdmission keeps its own). */
  private wroteCounts = false;
  /** `cluster` once a write-back put this instance's whole tally in Redis (the first at start). */
  private lastMode: AdmissionMode = 'local';
  /** On Redis Cluster: the writes with IPs' and users' counters spread over partitions. */
  private readonly slots: SlotAdmission | undefined;
  /** On one Redis: the handshakes of a turn (or of a call's round trip) in one script call. */
  private readonly reserves = new RoundTripBatch<SlotReservation, ReserveReply>((items) =>
    this.reserveAll(items),
  );
  /** Tally keys whose count changed by a release this turn: written at its end, once each. */
  private readonly releasing = new Set<string>();
  /** Tally keys with reservations not answered yet, and how many. */
  private readonly reserving = new Map<string, number>();
  /**
   * Keys whose count a reservation may have written out of date, written
   * again once their last reservation is answered: released while it waited,
   * or (on a cluster) a user's reserved twice at once, since each user step
   * follows its own IP step's reply and the two can reach Redis in either order.
   */
  private readonly rewriteWhenAnswered = new Set<string>();

  constructor(
    private readonly options: ResolvedRealtimeOptions,
    redis: RedisConnections,
  ) {
    super();
    this.keys = new AdmissionKeys(redis);
    this.aliveTtlMs = 2 * options.jobs.cleanupIntervalMs;
    // Its own connection: fail fast instead of queueing while Redis is away (the handshake falls back).
    // One Redis: not turn-batched, admission sends one call per round trip already.
    // A cluster: the calls of a turn leave in one write per node.
    this.connection = redis.open(
      'admission',
      {
        enableOfflineQueue: false,
        commandTimeout: ADMISSION_COMMAND_TIMEOUT_MS,
        maxRetriesPerRequest: 1,
      },
      {},
      { turnBatched: redis.isCluster },
    ) as Redis & AdmissionCommands;
    this.connection.defineCommand('rtAdmissionReserve', { lua: RESERVE_BATCH_SCRIPT });
    this.connection.defineCommand('rtAdmissionSet', { lua: SET_COUNTS_SCRIPT });
    this.connection.defineCommand('rtAdmissionForget', {
      numberOfKeys: 2,
      lua: FORGET_INSTANCE_SCRIPT,
    });
    this.slots = this.keys.sharded
      ? new SlotAdmission(this.connection, this.keys, this.instanceId)
      : undefined;
    this.connection.on('ready', () => void this.heartbeat());
    this.ticker = setInterval(() => void this.heartbeat(), options.jobs.cleanupIntervalMs / 2);
    this.ticker.unref();
  }

  /**
   * `cluster` while Redis answers and holds this instance's counts; `local`
   * while admission counts this process only (before the first write-back at
   * start, and from a failure until the write-back after it).
   */
  get mode(): AdmissionMode {
    return this.connection.status === 'ready' && !this.stopping ? this.lastMode : 'local';
  }

  reserve(
    socket: Socket,
    { ip, userId, exempt }: AdmissionRequest,
  ): AdmissionRefusal | undefined | Promise<AdmissionRefusal | undefined> {
    const slot: HeldSlot = {
      ip: exempt ? null : ConnectionTally.ipKey(ip),
      user: userId === null ? null : ConnectionTally.userKey(userId),
    };
    if (slot.ip === null && slot.user === null) return undefined;
    const reservation = this.reservationOf(slot);
    // Counted before Redis answers: a concurrent handshake on this instance sees it.
    this.tally.hold(socket, slot);
    if (reservation === undefined) return undefined;
    return this.send(slot, reservation, () => this.tally.drop(socket));
  }

  /**
   * The user's slot of an anonymous connection signing in: the user step of
   * a handshake alone (its IP and connect rate were counted by its own
   * handshake), held on its WebSocket until that closes. A close before
   * Redis answers releases it as it does a handshake's slot: the count is
   * written again once answered.
   */
  reserveUser(
    socket: WebSocket,
    userId: string,
  ): AdmissionRefusal | undefined | Promise<AdmissionRefusal | undefined> {
    const slot: HeldSlot = { ip: null, user: ConnectionTally.userKey(userId) };
    const reservation = this.reservationOf(slot);
    // Counted before Redis answers: a concurrent handshake or sign-in of the user here sees it.
    this.tally.holdUntilClosed(socket, slot);
    if (reservation === undefined) return undefined;
    return this.send(slot, reservation, () => this.tally.drop(socket));
  }

  releaseUser(socket: WebSocket): void {
    this.tally.drop(socket);
  }

  /** Deletes this instance's counts and liveness, so its slots are free for the others at once. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.ticker);
    // Nothing may be written after the counts are forgotten below (it would never be reaped).
    this.reserves.close();
    this.slots?.close();
    if (this.connection.status !== 'ready') return;
    try {
      await this.forget(this.instanceId);
      await this.connection.del(this.keys.alive(this.instanceId));
    } catch (error) {
      this.logger.warn(
        `admission: could not remove this instance's counts: ${(error as Error).message}`,
      );
    }
  }

  /** One script call for a turn's handshakes; two numbers per handshake in the reply. */
  private async reserveAll(items: readonly SlotReservation[]): Promise<ReserveReply[]> {
    const keys: string[] = [this.keys.held(this.instanceId)];
    const args: Array<string | number> = [
      this.instanceId,
      this.keys.alivePrefix,
      this.options.limits.connectWindowMs,
    ];
    for (const item of items) {
      keys.push(
        this.keys.rate(item.ip ?? ''),
        this.keys.count(item.ip ?? ''),
        this.keys.count(item.user ?? ''),
      );
      args.push(item.rate, item.maxIp, item.ownIp, item.maxUser, item.ownUser);
    }
    this.wroteCounts = true;
    const replies = await this.connection.rtAdmissionReserve(keys.length, ...keys, ...args);
    return items.map((_, i) => replyOf(replies[2 * i], replies[2 * i + 1]));
  }

  /** A slot was given back: its counts are written at the end of the turn, with the turn's others. */
  private released(slot: HeldSlot): void {
    if (this.stopping) return;
    this.write(slot.ip);
    this.write(slot.user);
  }

  /** Writes a key's count at the end of the turn (again, once answered, if a reservation holds it). */
  private write(key: string | null): void {
    if (key === null) return;
    if (this.reserving.has(key)) this.rewriteWhenAnswered.add(key);
    if (this.releasing.size === 0) setImmediate(() => this.flushReleases());
    this.releasing.add(key);
  }

  private markReserving({ ip, user }: HeldSlot): void {
    if (ip !== null) this.reserving.set(ip, (this.reserving.get(ip) ?? 0) + 1);
    if (user === null) return;
    const reserving = this.reserving.get(user) ?? 0;
    if (reserving > 0 && this.slots) this.rewriteWhenAnswered.add(user);
    this.reserving.set(user, reserving + 1);
  }

  /**
   * A reservation was answered: a key it may have written out of date
   * (rewriteWhenAnswered) is written again from the tally, now that no
   * reservation of it is unanswered.
   */
  private answered({ ip, user }: HeldSlot): void {
    this.answeredKey(ip);
    this.answeredKey(user);
  }

  private answeredKey(key: string | null): void {
    if (key === null) return;
    const left = (this.reserving.get(key) ?? 1) - 1;
    if (left > 0) {
      this.reserving.set(key, left);
      return;
    }
    this.reserving.delete(key);
    if (this.rewriteWhenAnswered.delete(key) && !this.stopping) this.write(key);
  }

  /** The end of a turn with releases: writes their keys' counts as they are now. */
  private flushReleases(): void {
    const keys = [...this.releasing];
    this.releasing.clear();
    if (this.stopping) return;
    if (this.connection.status !== 'ready') {
      this.dirty = true;
      return;
    }
    if (this.slots) {
      this.slots
        .setCounts(keys.map((key) => [key, this.tally.count(key)] as const))
        .catch((error: Error) => this.lost(error));
      return;
    }
    this.wroteCounts = true;
    for (let start = 0; start < keys.length; start += MAX_KEYS_PER_WRITE) {
      const part = keys.slice(start, start + MAX_KEYS_PER_WRITE);
      this.connection
        .rtAdmissionSet(
          part.length + 1,
          this.keys.held(this.instanceId),
          ...part.map((key) => this.keys.count(key)),
          this.instanceId,
          ...part.map((key) => this.tally.count(key)),
        )
        .catch((error: Error) => this.lost(error));
    }
  }

  /**
   * What Redis is asked for a slot, with this instance's counts before it is
   * held. Undefined while Redis is away: the local checks decide, and the
   * slot is written to Redis once it answers again.
   */
  private reservationOf(slot: HeldSlot): SlotReservation | undefined {
    if (this.connection.status !== 'ready' || this.stopping) {
      this.dirty = true;
      this.lastMode = 'local';
      return undefined;
    }
    const { connectRate, connectWindowMs, maxConnectionsPerIp, maxConnectionsPerUser } =
      this.options.limits;
    return {
      ip: slot.ip,
      user: slot.user,
      rate: slot.ip === null ? 0 : connectRate,
      windowMs: connectWindowMs,
      maxIp: slot.ip === null ? 0 : maxConnectionsPerIp,
      ownIp: this.tally.count(slot.ip),
      maxUser: slot.user === null ? 0 : maxConnectionsPerUser,
      ownUser: this.tally.count(slot.user),
    };
  }

  /** Sends the reservation of a slot already held; a refusal gives it back (`giveBack`). */
  private send(
    slot: HeldSlot,
    reservation: SlotReservation,
    giveBack: () => void,
  ): Promise<AdmissionRefusal | undefined> {
    const reserved = this.slots ? this.slots.reserve(reservation) : this.reserves.add(reservation);
    this.markReserving(slot);
    return reserved.then(
      (reply) => {
        this.answered(slot);
        const refusal = refusalOf(reply);
        // Its slot's counts are written again at the end of the turn (on a cluster one step may
        // have counted before the other refused).
        if (refusal) giveBack();
        return refusal;
      },
      (error: Error) => {
        this.answered(slot);
        // Shutting down: admitted on the local checks, as while Redis is away; nothing was lost.
        if (!(error instanceof BatchClosedError)) this.lost(error);
        return undefined;
      },
    );
  }

  private lost(error: Error): void {
    if (!this.dirty)
      this.logger.warn(`admission: Redis unavailable, counting locally (${error.message})`);
    this.dirty = true;
    this.lastMode = 'local';
  }

  /**
   * Keeps the liveness key alive; writes the whole tally when it had expired
   * (a long outage, or a Redis restart) or when some write was lost.
   */
  private async heartbeat(): Promise<void> {
    if (this.stopping || this.connection.status !== 'ready') return;
    try {
      const [[, previous]] = (await this.connection
        .multi()
        .set(this.keys.alive(this.instanceId), '1', 'PX', this.aliveTtlMs, 'GET')
        .sadd(this.keys.instances, this.instanceId)
        .exec()) as [[Error | null, string | null], unknown];
      if (previous === null || this.dirty) await this.resync();
    } catch (error) {
      this.lost(error as Error);
    }
  }

  /** Replaces every count of this instance with its tally as it is now. */
  private async resync(): Promise<void> {
    this.dirty = false;
    const entries = [...this.tally.entries()];
    if (this.slots) {
      const slots = this.slots;
      await slots.forget(this.instanceId);
      await this.connection.sadd(this.keys.instances, this.instanceId);
      await slots.setCounts(entries);
      this.lastMode = 'cluster';
      this.logger.log(`admission: cluster counts in use (${entries.length} keys written)`);
      return;
    }
    const multi = this.connection.multi() as AdmissionMulti;
    // Before its first write (the resync at start) nothing of this instance is there to remove.
    if (this.wroteCounts) {
      multi.rtAdmissionForget(
        this.keys.held(this.instanceId),
        this.keys.instances,
        this.instanceId,
      );
    }
    multi.sadd(this.keys.instances, this.instanceId);
    if (entries.length > 0) {
      this.wroteCounts = true;
      multi.rtAdmissionSet(
        entries.length + 1,
        this.keys.held(this.instanceId),
        ...entries.map(([key]) => this.keys.count(key)),
        this.instanceId,
        ...entries.map(([, count]) => count),
      );
    }
    const results = await multi.exec();
    const failed = results?.find(([error]) => error !== null);
    if (failed) throw failed[0] as Error;
    this.lastMode = 'cluster';
    this.logger.log(`admission: cluster counts in use (${entries.length} keys written)`);
  }

  private forget(instanceId: string): Promise<number> {
    if (this.slots) return this.slots.forget(instanceId);
    return this.connection.rtAdmissionForget(
      this.keys.held(instanceId),
      this.keys.instances,
      instanceId,
    );
  }
}

function replyOf(code: number, waitMs: number): ReserveReply {
  switch (code) {
    case 0:
      return [0];
    case 1:
      return [1, waitMs];
    case 2:
      return [2];
    default:
      return [3];
  }
}

function refusalOf(reply: ReserveReply): AdmissionRefusal | undefined {
  switch (reply[0]) {
    case 0:
      return undefined;
    case 1:
      return rateRefusal(Math.max(reply[1], 1000));
    case 2:
      return IP_REFUSAL;
    default:
      return USER_REFUSAL;
  }
}
