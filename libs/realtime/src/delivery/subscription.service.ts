import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import type { RealtimeEngine } from '../engine/realtime-engine.port';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { ErrorCode, RealtimeException, ServerEvent } from '../protocol';
import { REALTIME_ENGINE, REALTIME_OPTIONS } from '../realtime.constants';
import type { Connection } from '../registry/connection';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import { TopicAccessService } from '../topics/topic-access.service';
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
 * limits) before any is added, then the topics are committed, answered and
 * recovered in one synchronous step so no live message can slip in between.
 */
@Injectable()
export class SubscriptionService {
  constructor(
    @Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine,
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly registry: SubscriptionRegistry,
    private readonly access: TopicAccessService,
    private readonly writer: SocketWriter,
  ) {}

  /** Throws the first refusal in request order: invalid name, policy, or a subscription limit. */
  async check(
    principal: Principal,
    held: ReadonlySet<string>,
    topics: readonly string[],
  ): Promise<string[]> {
    const wanted = [...new Set(topics)];
    const admit = this.limitsFor(held);
    // One topic at a time, so the error names the first refused topic in request order.
    for (const topic of wanted) {
      const [{ namespace }] = await this.access.authorize(principal, 'subscribe', [topic]);
      if (!held.has(topic)) admit(topic, namespace);
    }
    return wanted;
  }

  /**
   * Adds the topics, sends `subscribed` and then every retained message after
   * each `since` offset. Topics already held are confirmed without replay, so a
   * client never sees an offset twice.
   */
  commit(
    connection: Connection,
    topics: readonly string[],
    since: Readonly<Record<string, string>> | undefined,
    ref: string | undefined,
  ): void {
    if (!connection.isOpen) return;
    // Checked again, synchronously: concurrent requests may each have passed check() alone.
    const admit = this.limitsFor(connection.topics);
    for (const topic of topics) {
      if (!connection.topics.has(topic)) admit(topic, namespaceOf(topic));
    }
    const replies: SubscribedTopic[] = [];
    const replay = [];
    for (const topic of topics) {
      const alreadyHeld = connection.topics.has(topic);
      const recovery = this.engine.recover(
        topic,
        alreadyHeld || !since || !Object.hasOwn(since, topic) ? undefined : since[topic],
      );
      if (this.registry.add(connection, topic)) this.engine.watch(topic);
      const reply: SubscribedTopic = { topic, offset: recovery.offset };
      if (recovery.recovered !== undefined) reply.recovered = recovery.recovered;
      replies.push(reply);
      replay.push(...recovery.messages);
    }
    this.writer.write(connection, encodeFrame(ServerEvent.Subscribed, { ref, topics: replies }));
    for (const message of replay) this.writer.write(connection, encodeMessage(message));
  }

  /** Counts new topics against the per-connection and per-namespace limits; throws past either. */
  private limitsFor(held: ReadonlySet<string>): (topic: string, namespace: string) => void {
    let total = held.size;
    const perNamespace = countByNamespace(held);
    return (topic, namespace) => {
      const count = (perNamespace.get(namespace) ?? 0) + 1;
      const namespaceMax = this.access.maxPerConnection(namespace) ?? Infinity;
      if (++total > this.options.limits.maxSubscriptions || count > namespaceMax) {
        throw new RealtimeException(ErrorCode.SubscriptionLimit, 'too many subscriptions', topic);
      }
      perNamespace.set(namespace, count);
    };
  }

  /** Idempotent: topics not held are confirmed all the same. */
  unsubscribe(connection: Connection, topics: readonly string[]): string[] {
    const names = topics.map((topic) => this.access.parse(topic).topic);
    for (const topic of names) {
      if (this.registry.remove(connection, topic)) this.engine.unwatch(topic);
    }
    return names;
  }

  /** Drops every subscription of a closed connection. */
  release(connection: Connection): void {
    for (const topic of this.registry.removeAll(connection)) this.engine.unwatch(topic);
  }
}

function countByNamespace(topics: ReadonlySet<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const topic of topics) {
    const namespace = namespaceOf(topic);
    counts.set(namespace, (counts.get(namespace) ?? 0) + 1);
  }
  return counts;
}

/** The namespace of a topic already validated. */
function namespaceOf(topic: string): string {
  const colon = topic.indexOf(':');
  return colon === -1 ? topic : topic.slice(0, colon);
}
