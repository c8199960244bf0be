import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { randomFillSync } from 'node:crypto';
import type { RealtimeEngine } from '../../engine/realtime-engine.port';
import { encodeMessage, serializedPayload } from '../../framing/message-frame';
import type { ResolvedRealtimeOptions } from '../../options/resolved-options';
import { DIRECT_TOPIC, ErrorCode, RealtimeException } from '../../protocol';
import { REALTIME_ENGINE, REALTIME_OPTIONS } from '../../realtime.constants';
import type { Connection } from '../../registry/connection';
import { SocketWriter } from '../../transport/socket-writer.service';
import {
  type DeadLetter,
  type DeadLetterHandler,
  type OfflineMessage,
  type OfflineStats,
  REALTIME_DEAD_LETTER_HANDLER,
} from './offline-message';
import { ExpirySweeper } from './expiry-sweeper';
import { OFFLINE_SCHEDULER, OFFLINE_STORE } from './offline.constants';
import type { OfflineScheduler } from './offline-scheduler.port';
import { type InboxLimits, type OfflineStore, retain } from './offline-store.port';
import { failureDetail } from '../../engine/engine-unavailable.error';

const MAX_USER_ID_LENGTH = 256;
/**
 * A connection's inbox read is tried this often, 0.5 s apart and doubling
 * (7.5 s in all), while the connection is open: a read that failed once
 * (Redis slow or away) would otherwise leave a user online without the
 * messages waiting for them until they reconnect.
 */
const PENDING_ATTEMPTS = 5;
const PENDING_RETRY_MS = 500;

/** Message ids are 16 random bytes; one system call fills this many of them. */
const IDS_PER_FILL = 256;
const ID_BYTES = 16;

/**
 * Messages for users who may not be there: kept in the user's inbox until
 * acknowledged or expired, sent at once to the user's open connections on
 * every instance, and again on each new connection until acknowledged.
 * Expired ones are dead-lettered and handed to the application's handler.
 */
@Injectable()
export class OfflineDeliveryService implements OnModuleInit {
  private readonly logger = new Logger('Realtime');
  private readonly limits: InboxLimits;
  private handler: DeadLetterHandler | undefined;
  private readonly deadLetterListeners: Array<(letter: DeadLetter) => void> = [];
  /** Waits between inbox reads of a connection (deliverPending), cleared on shutdown. */
  private readonly retries = new Set<NodeJS.Timeout>();
  private readonly sweeper: ExpirySweeper;
  private readonly idPool = Buffer.alloc(IDS_PER_FILL * ID_BYTES);
  private idOffset = this.idPool.length;

  constructor(
    @Inject(OFFLINE_STORE) private readonly store: OfflineStore,
    @Inject(OFFLINE_SCHEDULER) private readonly scheduler: OfflineScheduler,
    @Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine,
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly writer: SocketWriter,
    private readonly moduleRef: ModuleRef,
  ) {
    this.limits = {
      maxMessages: options.offline.maxMessagesPerUser,
      maxBytes: options.offline.maxBytesPerUser,
      whenFull: options.offline.whenFull,
      deadLetterLimit: options.offline.deadLetterLimit,
    };
    this.sweeper = new ExpirySweeper(
      store,
      options.offline.sweepIntervalMs,
      options.offline.deadLetterLimit,
      (letter) => this.deadLettered(letter),
    );
  }

  onModuleInit(): void {
    this.handler = this.findHandler();
    this.scheduler.start({ handOver: (letter) => this.handOver(letter) });
    this.sweeper.start();
  }

  /**
   * Shutdown (RealtimeLifecycleService calls it as the drain starts): inbox
   * reads and sweeps end, and the scheduler stops; in Redis mode that waits,
   * within the grace, for the hand-overs running here.
   */
  async stop(): Promise<void> {
    for (const retry of this.retries) clearTimeout(retry);
    this.retries.clear();
    await this.sweeper.stop();
    await this.scheduler.close(this.options.shutdown.graceMs);
  }

  /**
   * Keeps the message with its deadline (one write, batched per event-loop
   * turn in Redis mode; no job or timer per message: ExpirySweeper
   * dead-letters it when its TTL passed), and sends it to the user's open
   * connections; resolves to its id. No live push when the store found the
   * user online nowhere as it wrote: a connection that opens later reads the
   * message from the inbox (docs/guarantees.md).
   */
  async send(userId: string, type: string, payload: unknown, ttlSeconds: number): Promise<string> {
    this.assertRetainable(userId, ttlSeconds);
    const ts = Date.now();
    // Serialized once, at the call: the inbox and the live push carry the payload as it was then,
    // whatever the caller changes later, and neither serializes it again.
    const serialized = serializedPayload(payload);
    const message: OfflineMessage = {
      id: this.newId(),
      userId,
      type,
      payload: serialized,
      ts,
      expiresAt: ts + Math.ceil(ttlSeconds * 1000),
    };
    const { evicted, online } = await this.store.add(retain(message), this.limits);
    for (const letter of evicted) await this.deadLettered(letter);
    if (!online) return message.id;
    try {
      await this.engine.command({
        kind: 'user',
        userId,
        type,
        payload: serialized,
        ts,
        id: message.id,
      });
    } catch (error) {
      // Kept already: if the live push fails, the user still gets it on the next connection.
      this.logger.warn(`live push of ${message.id} failed: ${failureDetail(error)}`);
    }
    return message.id;
  }

  /**
   * Right after `connected`: the user's unacknowledged messages, oldest first.
   * `userId`: the connection's user (only a user has an inbox: the caller skips anonymous ones).
   */
  async deliverPending(connection: Connection, userId: string): Promise<void> {
    let messages: OfflineMessage[] | undefined;
    for (let attempt = 1; messages === undefined; attempt++) {
      try {
        messages = await this.store.pending(userId, Date.now());
      } catch (error) {
        if (attempt >= PENDING_ATTEMPTS || !connection.isOpen) throw error;
        await this.pause(PENDING_RETRY_MS * 2 ** (attempt - 1));
        if (!connection.isOpen) return;
      }
    }
    for (const message of messages) {
      if (!connection.isOpen) return;
      this.writer.write(connection, encodeMessage({ ...message, topic: DIRECT_TOPIC }));
    }
  }

  /** Idempotent; ids that are unknown, expired or of another user are ignored. */
  async ack(userId: string | null, ids: readonly string[]): Promise<void> {
    if (userId === null) return;
    // Removes the messages and their deadlines together: nothing is left to expire.
    await this.store.ack(userId, ids);
  }

  stats(): Promise<OfflineStats> {
    return this.store.stats();
  }

  deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.store.deadLetters(Math.min(limit, this.options.offline.deadLetterLimit));
  }

  /**
   * A delayed expiry job of a deployment before sweeping fell due (Redis
   * mode; see OfflineProcessor): dead-letter the message unless it was
   * acknowledged, and hand it over.
   */
  async expire(userId: string, id: string): Promise<void> {
    const letter = await this.store.expire(
      userId,
      id,
      Date.now(),
      this.options.offline.deadLetterLimit,
    );
    if (letter) await this.deadLettered(letter);
  }

  /** Told of each dead letter once, on the instance that dead-lettered it (lifecycle events). */
  onDeadLetter(listener: (letter: DeadLetter) => void): void {
    this.deadLetterListeners.push(listener);
  }

  /**
   * Dead-lettered already (kept and counted, in the write that took it out of
   * the inbox): a failed hand-over is logged, never its caller's failure (a
   * send whose message was kept would be retried, and kept twice).
   */
  private async deadLettered(letter: DeadLetter): Promise<void> {
    for (const listener of this.deadLetterListeners) listener(letter);
    await this.scheduler.handOver(letter).catch((error: unknown) => {
      this.logger.error(`hand-over of dead letter ${letter.id} failed: ${failureDetail(error)}`);
    });
  }

  /** Gives a dead letter to the app's handler; a throw is retried by the scheduler. */
  async handOver(letter: DeadLetter): Promise<void> {
    await this.handler?.handle(letter);
  }

  private assertRetainable(userId: string, ttlSeconds: number): void {
    if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) {
      throw new RealtimeException(
        ErrorCode.BadRequest,
        `userId must be a string of 1 to ${MAX_USER_ID_LENGTH} characters`,
      );
    }
    const max = this.options.offline.maxTtlSeconds;
    if (typeof ttlSeconds !== 'number' || !(ttlSeconds > 0) || ttlSeconds > max) {
      throw new RealtimeException(
        ErrorCode.BadRequest,
        `ttlSeconds must be a number above 0 and at most ${max} (offline.maxTtlSeconds)`,
      );
    }
  }

  /** 16 random bytes, base64url: from a pool filled 256 ids at a time (one system call, not one per id). */
  private newId(): string {
    if (this.idOffset === this.idPool.length) {
      randomFillSync(this.idPool);
      this.idOffset = 0;
    }
    const start = this.idOffset;
    this.idOffset += ID_BYTES;
    return this.idPool.toString('base64url', start, start + ID_BYTES);
  }

  /** A wait that shutdown cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const retry = setTimeout(() => {
        this.retries.delete(retry);
        resolve();
      }, ms);
      this.retries.add(retry);
    });
  }

  /** The app's handler, provided in any of its modules; none means dead letters are only kept and counted. */
  private findHandler(): DeadLetterHandler | undefined {
    try {
      return this.moduleRef.get<DeadLetterHandler>(REALTIME_DEAD_LETTER_HANDLER, {
        strict: false,
      });
    } catch {
      this.logger.debug?.('no dead-letter handler provided');
      return undefined;
    }
  }
}
