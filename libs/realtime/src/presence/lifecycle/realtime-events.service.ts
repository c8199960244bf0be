import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { ResolvedRealtimeOptions } from '../../options/resolved-options';
import { REALTIME_OPTIONS } from '../../realtime.constants';
import type { EventDeadLetterStore } from './event-dead-letter.store';
import type { LifecycleDispatcher } from './lifecycle-dispatcher';
import { LifecycleHandlers } from './lifecycle-handlers';
import { EVENT_DEAD_LETTERS, LIFECYCLE_DISPATCHER } from './lifecycle.constants';
import type {
  DeadLetteredEvent,
  RealtimeEvent,
  RealtimeEventName,
  RealtimeEventPayloads,
} from './realtime-event';

/** Counts of lifecycle events for /ws/stats and metrics. */
export interface RealtimeEventStats {
  /** Events this instance produced (only those with a handler are produced). */
  emitted: number;
  /** Events whose handler failed every attempt (cluster-wide in Redis mode). */
  deadLettered: number;
}

/**
 * Produces lifecycle events for the app's `@OnRealtimeEvent` handlers. An
 * event without a handler costs one map lookup and is never built. Each event
 * gets a random `id` once, kept through every retry.
 *
 * @publicApi
 */
@Injectable()
export class RealtimeEvents {
  private emitted = 0;

  constructor(
    private readonly handlers: LifecycleHandlers,
    @Inject(LIFECYCLE_DISPATCHER) private readonly dispatcher: LifecycleDispatcher,
    @Inject(EVENT_DEAD_LETTERS) private readonly deadLetterStore: EventDeadLetterStore,
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
  ) {}

  get emittedCount(): number {
    return this.emitted;
  }

  /** Whether an event of this name has a handler (so whether it is worth building). */
  wants(name: RealtimeEventName): boolean {
    return this.handlers.has(name);
  }

  emit<N extends RealtimeEventName>(name: N, data: RealtimeEventPayloads[N]): void {
    if (!this.handlers.has(name)) return;
    this.emitted++;
    this.dispatcher.dispatch({ id: randomUUID(), name, at: Date.now(), data } as RealtimeEvent);
  }

  /** The newest dead-lettered events, newest first. */
  deadLetters(limit = this.options.events.deadLetterLimit): Promise<DeadLetteredEvent[]> {
    return this.deadLetterStore.list(Math.min(limit, this.options.events.deadLetterLimit));
  }

  async stats(): Promise<RealtimeEventStats> {
    return { emitted: this.emitted, deadLettered: await this.deadLetterStore.count() };
  }
}
