import type { Provider } from '@nestjs/common';
import { RealtimeJobs } from '../../jobs/realtime-jobs.service';
import type { ResolvedRealtimeOptions } from '../../options/resolved-options';
import { REALTIME_OPTIONS } from '../../realtime.constants';
import { RedisConnections } from '../../redis/redis-connections.service';
import {
  type EventDeadLetterStore,
  MemoryEventDeadLetterStore,
  RedisEventDeadLetterStore,
} from './event-dead-letter.store';
import {
  BullLifecycleDispatcher,
  EventRunner,
  type LifecycleDispatcher,
  MemoryLifecycleDispatcher,
} from './lifecycle-dispatcher';
import { LifecycleHandlers } from './lifecycle-handlers';
import { EVENT_DEAD_LETTERS, LIFECYCLE_DISPATCHER } from './lifecycle.constants';

/** Redis mode: dead letters in Redis and Bull jobs; memory mode: both in this process. */
export const LIFECYCLE_PROVIDERS: Provider[] = [
  LifecycleHandlers,
  {
    provide: EVENT_DEAD_LETTERS,
    inject: [REALTIME_OPTIONS, RedisConnections],
    useFactory: (
      options: ResolvedRealtimeOptions,
      redis: RedisConnections,
    ): EventDeadLetterStore =>
      options.engine.type === 'redis'
        ? new RedisEventDeadLetterStore(redis)
        : new MemoryEventDeadLetterStore(),
  },
  {
    provide: LIFECYCLE_DISPATCHER,
    inject: [REALTIME_OPTIONS, RealtimeJobs, LifecycleHandlers, EVENT_DEAD_LETTERS],
    useFactory: (
      options: ResolvedRealtimeOptions,
      jobs: RealtimeJobs,
      handlers: LifecycleHandlers,
      deadLetters: EventDeadLetterStore,
    ): LifecycleDispatcher => {
      const { attempts, backoffMs, handlerTimeoutMs, deadLetterLimit } = options.events;
      const runner = new EventRunner(handlers, deadLetters, {
        attempts,
        backoffMs,
        handlerTimeoutMs,
        deadLetterLimit,
      });
      return options.engine.type === 'redis' && jobs.enabled
        ? new BullLifecycleDispatcher(jobs, runner, {
            windowMs: options.events.batchWindowMs,
            maxEvents: options.events.batchMaxEvents,
          })
        : new MemoryLifecycleDispatcher(runner);
    },
  },
];
