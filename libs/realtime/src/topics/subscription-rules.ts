import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { ErrorCode, RealtimeException, namespaceOf } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { TopicAccessService } from './topic-access.service';

/** The topics a connection holds, as the rules read them (a connection's TopicSet, or any Set). */
export interface HeldTopics extends Iterable<string> {
  readonly size: number;
  has(topic: string): boolean;
}

/**
 * Whether a connection may subscribe to topics: name, policy (which may await
 * an authorizer), then the per-connection and per-namespace limits. Used by
 * the `subscribe` event and by `?subscribe=` at the handshake.
 */
@Injectable()
export class SubscriptionRules {
  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly access: TopicAccessService,
  ) {}

  /** Throws the first refusal in request order: invalid name, policy, or a subscription limit. */
  async check(
    principal: Principal,
    held: HeldTopics,
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

  /** Counts new topics against the per-connection and per-namespace limits; throws past either. */
  limitsFor(held: HeldTopics): (topic: string, namespace: string) => void {
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
}

function countByNamespace(topics: HeldTopics): Map<string, number> {
  const counts = new Map<string, number>();
  for (const topic of topics) {
    const namespace = namespaceOf(topic);
    counts.set(namespace, (counts.get(namespace) ?? 0) + 1);
  }
  return counts;
}
