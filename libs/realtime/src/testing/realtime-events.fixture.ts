import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EventRunner, type LifecycleDispatcher } from '../presence/lifecycle/lifecycle-dispatcher';
import { LIFECYCLE_DISPATCHER } from '../presence/lifecycle/lifecycle.constants';
import type {
  RealtimeEvent,
  RealtimeEventName,
  RealtimeEventPayloads,
} from '../presence/lifecycle/realtime-event';

/**
 * Lifecycle events for tests of the app's `@OnRealtimeEvent` handlers:
 * `deliver` calls every handler of the event once, as the library calls
 * them (side by side, within `events.handlerTimeoutMs`), and resolves once
 * they all settled. It rejects with the first failure where the library
 * would retry, so a test sees the handler's error.
 *
 * @publicApi
 */
@Injectable()
export class RealtimeEventsFixture implements OnModuleDestroy {
  constructor(
    private readonly runner: EventRunner,
    @Inject(LIFECYCLE_DISPATCHER) private readonly dispatcher: LifecycleDispatcher,
  ) {}

  /** Delivers one event; resolves to it (its `id` and `at` are new, as the library's are). */
  async deliver<N extends RealtimeEventName>(
    name: N,
    data: RealtimeEventPayloads[N],
  ): Promise<RealtimeEvent<N>> {
    const event = { id: randomUUID(), name, at: Date.now(), data } as RealtimeEvent;
    const [failed] = await this.runner.runAll(event);
    if (failed) throw failed.error;
    return event as RealtimeEvent<N>;
  }

  /** Retries of what RealtimeEvents dispatched under test end with the testing module. */
  onModuleDestroy(): Promise<void> {
    return this.dispatcher.close(0);
  }
}
