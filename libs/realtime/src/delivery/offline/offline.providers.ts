import type { Provider } from '@nestjs/common';
import type { ResolvedRealtimeOptions } from '../../options/resolved-options';
import { REALTIME_OPTIONS } from '../../realtime.constants';
import { RealtimeJobs } from '../../jobs/realtime-jobs.service';
import { RedisConnections } from '../../redis/redis-connections.service';
import { ConnectionRegistry } from '../../registry/connection.registry';
import { BullOfflineScheduler } from './bull-offline.scheduler';
import { MemoryOfflineScheduler } from './memory-offline.scheduler';
import { MemoryOfflineStore } from './memory-offline.store';
import { OFFLINE_SCHEDULER, OFFLINE_STORE } from './offline.constants';
import type { OfflineScheduler } from './offline-scheduler.port';
import type { OfflineStore } from './offline-store.port';
import { RedisOfflineStore } from './redis-offline.store';

/** Redis mode keeps inboxes and jobs in Redis; memory mode keeps them in this process. */
export const OFFLINE_PROVIDERS: Provider[] = [
  {
    provide: OFFLINE_STORE,
    inject: [REALTIME_OPTIONS, RedisConnections, ConnectionRegistry],
    useFactory: (
      options: ResolvedRealtimeOptions,
      redis: RedisConnections,
      connections: ConnectionRegistry,
    ): OfflineStore =>
      options.engine.type === 'redis'
        ? new RedisOfflineStore(redis)
        : // One process holds every connection: its registry says who is online.
          new MemoryOfflineStore(
            options.offline.maxUsers,
            (userId) => connections.countForUser(userId) > 0,
          ),
  },
  {
    provide: OFFLINE_SCHEDULER,
    inject: [REALTIME_OPTIONS, RealtimeJobs],
    useFactory: (options: ResolvedRealtimeOptions, jobs: RealtimeJobs): OfflineScheduler => {
      const retry = {
        attempts: options.offline.handlerAttempts,
        backoffMs: options.offline.handlerBackoffMs,
      };
      return options.engine.type === 'redis' && jobs.enabled
        ? new BullOfflineScheduler(jobs, retry)
        : new MemoryOfflineScheduler(retry);
    },
  },
];
