import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { parseOffset } from '../engine/offset';
import type { RealtimeEngine, Recovery } from '../engine/realtime-engine.port';
import { RealtimeException, ServerEvent } from '../protocol';
import { REALTIME_ENGINE } from '../realtime.constants';
import type { Connection } from '../registry/connection';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import { SubscriptionRules } from '../topics/subscription-rules';
import { TopicAccessService } from '../topics/topic-access.service';
import { namespaceOf } from '../topics/topic-name';
import { encodeMessage } from './fan-out.service';
import { encodeFrame } from './outbound-frame';
import { SocketWriter } from './socket-writer.service';

export interface SubscribedTopic {
  topic: string;
  offset: string;
  recovered?: boolean;
}

/**
 * Subscribe and unsubscribe, all-or-nothing: every topic is checked (policy,
 * limits) before any is added; then the topics are registered, recovered and
 * answered, with racing live messages held back so none is lost or repeated.
 */
@Injectable()
export class SubscriptionService {
  constructor(
    @Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine,
    private readonly registry: SubscriptionRegistry,
    private readonly access: TopicAccessService,
    private readonly rules: SubscriptionRules,
    private readonly writer: SocketWriter,
  ) {}

  /**
   * Adds the topics, sends `subscribed` and then every retained message after
   * each `since` offset, then the live messages that arrived meanwhile. The
   * subscriber is registered before the engine is asked, and live messages
   * are held back until the answer is written, so nothing falls between
   * history and live, and nothing is sent twice. Topics already held are
   * confirmed without replay.
   */
  async commit(
    connection: Connection,
    topics: readonly string[],
    since: Readonly<Record<string, string>> | undefined,
    ref: string | undefined,
  ): Promise<void> {
    if (!connection.isOpen) return;
    // Checked again, synchronously: concurrent requests may each have passed check() alone.
    const admit = this.rules.limitsFor(connection.topics);
    const fresh = topics.filter((topic) => !connection.topics.has(topic));
    for (const topic of fresh) admit(topic, namespaceOf(topic));
    const heldBack = (connection.recovering ??= new Map());
    for (const topic of fresh) {
      heldBack.set(topic, []);
      if (this.registry.add(connection, topic)) this.engine.watch(topic);
    }
    let recoveries: Recovery[];
    try {
      recoveries = await Promise.all(
        topics.map((topic) =>
          this.engine.recover(topic, fresh.includes(topic) ? sinceFor(since, topic) : undefined),
        ),
      );
    } catch (error) {
      this.release(connection, fresh);
      throw error;
    }
    const replies = recoveries.map(({ offset, recovered }, i): SubscribedTopic => {
      const reply: SubscribedTopic = { topic: topics[i], offset };
      if (recovered !== undefined) reply.recovered = recovered;
      return reply;
    });
    this.writer.write(connection, encodeFrame(ServerEvent.Subscribed, { ref, topics: replies }));
    recoveries.forEach((recovery, i) => {
      if (fresh.includes(topics[i])) this.catchUp(connection, topics[i], recovery);
    });
  }

  /** Writes a topic's recovered messages, then the live ones held back that came after them. */
  private catchUp(connection: Connection, topic: string, recovery: Recovery): void {
    const live = connection.recovering?.get(topic);
    if (live === undefined) return;
    connection.recovering?.delete(topic);
    if (connection.recovering?.size === 0) connection.recovering = undefined;
    if (!connection.topics.has(topic)) return;
    for (const message of recovery.messages) this.writer.write(connection, encodeMessage(message));
    const head = parseOffset(recovery.offset);
    for (const message of live) {
      if (isAfter(message.offset, head)) this.writer.write(connection, encodeMessage(message));
    }
  }

  /** The topics of `held` that this principal may not subscribe to (after `auth` changed it). */
  async disallowed(principal: Principal, held: ReadonlySet<string>): Promise<string[]> {
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
      if (this.registry.remove(connection, topic)) this.engine.unwatch(topic);
    }
    return names;
  }

  /** Drops every subscription of a closed connection, or the given ones. */
  release(connection: Connection, topics?: readonly string[]): void {
    const emptied = topics
      ? topics.filter((topic) => this.registry.remove(connection, topic))
      : this.registry.removeAll(connection);
    for (const topic of emptied) this.engine.unwatch(topic);
    for (const topic of topics ?? [...(connection.recovering?.keys() ?? [])]) {
      connection.recovering?.delete(topic);
    }
    if (connection.recovering?.size === 0) connection.recovering = undefined;
  }
}

/** Whether a live message came after the recovery head (a new epoch means history was reset since). */
function isAfter(offset: string, head: ReturnType<typeof parseOffset>): boolean {
  const position = parseOffset(offset);
  if (head === undefined || position === undefined) return true;
  return position.epoch !== head.epoch || position.sequence > head.sequence;
}

/** The client's `since` for a topic; own keys only, so a topic named `constructor` is not confused. */
function sinceFor(
  since: Readonly<Record<string, string>> | undefined,
  topic: string,
): string | undefined {
  return since !== undefined && Object.hasOwn(since, topic) ? since[topic] : undefined;
}
