import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { failureDetail } from '../engine/engine-unavailable.error';
import type { RealtimeEngine, Recovery } from '../engine/realtime-engine.port';
import { namespaceOf, RealtimeException, ServerEvent, type SubscribedTopic } from '../protocol';
import { REALTIME_ENGINE } from '../realtime.constants';
import type { Connection } from '../registry/connection';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import { type HeldTopics, SubscriptionRules } from '../topics/subscription-rules';
import { TopicAccessService } from '../topics/topic-access.service';
import { encodeFrame } from '../framing/outbound-frame';
import type { Reply } from '../transport/reply-queue';
import { SocketWriter } from '../transport/socket-writer.service';

/**
 * Subscribe and unsubscribe, all-or-nothing: every topic is checked (policy,
 * limits) before any is added; then the topics are registered, recovered and
 * answered, with racing live messages held back so none is lost or repeated.
 */
@Injectable()
export class SubscriptionService {
  private readonly logger = new Logger('Realtime');
  /** Topics whose first local subscriber is waiting for the engine's watch: later subscribers wait too. */
  private readonly watching = new Map<string, Promise<void>>();

  constructor(
    @Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine,
    private readonly registry: SubscriptionRegistry,
    private readonly access: TopicAccessService,
    private readonly rules: SubscriptionRules,
    private readonly writer: SocketWriter,
  ) {}

  /**
   * Adds the topics and asks the engine for each one's head and, after each
   * `since` offset, its retained messages. Resolves to the reply, which writes
   * `subscribed`, then the recovered messages, then the live messages that
   * arrived meanwhile. The subscriber is registered before the engine is
   * asked, and live messages are held back until the reply is written, so
   * nothing falls between history and live, and nothing is sent twice. Topics
   * already held are confirmed without replay.
   */
  async commit(
    connection: Connection,
    topics: readonly string[],
    since: Readonly<Record<string, string>> | undefined,
    ref: string | undefined,
  ): Promise<Reply> {
    if (!connection.isOpen) return undefined;
    // Checked again, synchronously: concurrent requests may each have passed check() alone.
    const admit = this.rules.limitsFor(connection.topics);
    const fresh = topics.filter((topic) => !connection.topics.has(topic));
    for (const topic of fresh) admit(topic, namespaceOf(topic));
    const heldBack = (connection.recovering ??= new Map());
    const watches: Promise<void>[] = [];
    for (const topic of fresh) {
      heldBack.set(topic, []);
      watches.push(this.watch(topic, this.registry.add(connection, topic)));
    }
    let recoveries: Recovery[];
    try {
      // Watched before the history is read: a message published in between is held back, not lost.
      await Promise.all(watches);
      recoveries = await Promise.all(
        topics.map((topic) =>
          this.engine.recover(topic, fresh.includes(topic) ? sinceFor(since, topic) : undefined),
        ),
      );
    } catch (error) {
      this.release(connection, fresh);
      throw error;
    }
    const subscribed = recoveries.map(({ offset, recovered }, i): SubscribedTopic => {
      const reply: SubscribedTopic = { topic: topics[i], offset };
      if (recovered !== undefined) reply.recovered = recovered;
      return reply;
    });
    return () => {
      this.writer.write(
        connection,
        encodeFrame(ServerEvent.Subscribed, { ref, topics: subscribed }),
      );
      recoveries.forEach((recovery, i) => {
        if (fresh.includes(topics[i])) this.catchUp(connection, topics[i], recovery);
      });
    };
  }

  /**
   * Writes a topic's recovered messages, then the live ones held back that
   * came after them. A resync announced meanwhile is held back among them at
   * its new head (FanOutService.resync), so it goes out in its place, and
   * only when that head is past the recovery's: a client is told of a loss
   * its `recovered: true` did not cover, and of no other.
   */
  private catchUp(connection: Connection, topic: string, recovery: Recovery): void {
    const live = connection.recovering?.get(topic);
    if (live === undefined) return;
    connection.recovering?.delete(topic);
    if (connection.recovering?.size === 0) connection.recovering = undefined;
    if (!connection.topics.has(topic)) return;
    for (const message of recovery.messages) this.writer.write(connection, message.frame);
    for (const message of live) {
      if (this.engine.isAfter(message.offset, recovery.offset)) {
        this.writer.write(connection, message.frame);
      }
    }
  }

  /** The engine's watch for a topic's first local subscriber; later subscribers wait for the same one. */
  private watch(topic: string, first: boolean): Promise<void> {
    if (!first) return this.watching.get(topic) ?? Promise.resolve();
    const watched = this.engine.watch(topic).finally(() => {
      if (this.watching.get(topic) === watched) this.watching.delete(topic);
    });
    this.watching.set(topic, watched);
    return watched;
  }

  private unwatch(topic: string): void {
    this.engine
      .unwatch(topic)
      .catch((error: unknown) => this.logger.warn(`unwatch: ${failureDetail(error)}`));
  }

  /** The topics of `held` that this principal may not subscribe to (after `auth` changed it). */
  async disallowed(principal: Principal, held: HeldTopics): Promise<string[]> {
    const lost: string[] = [];
    for (const topic of [...held]) {
      try {
        await this.access.authorize(principal, 'subscribe', [topic]);
      } catch (error) {
        if (!(error instanceof RealtimeException)) throw error;
        lost.push(topic);
      }
    }
    return lost;
  }

  /** Idempotent: topics not held are confirmed all the same. */
  unsubscribe(connection: Connection, topics: readonly string[]): string[] {
    const names = topics.map((topic) => this.access.parse(topic).topic);
    for (const topic of names) {
      if (this.registry.remove(connection, topic)) this.unwatch(topic);
    }
    return names;
  }

  /** Drops every subscription of a closed connection, or the given ones. */
  release(connection: Connection, topics?: readonly string[]): void {
    const emptied = topics
      ? topics.filter((topic) => this.registry.remove(connection, topic))
      : this.registry.removeAll(connection);
    for (const topic of emptied) this.unwatch(topic);
    for (const topic of topics ?? [...(connection.recovering?.keys() ?? [])]) {
      connection.recovering?.delete(topic);
    }
    if (connection.recovering?.size === 0) connection.recovering = undefined;
  }
}

/** The client's `since` for a topic; own keys only, so a topic named `constructor` is not confused. */
function sinceFor(
  since: Readonly<Record<string, string>> | undefined,
  topic: string,
): string | undefined {
  return since !== undefined && Object.hasOwn(since, topic) ? since[topic] : undefined;
}
