import type { BullRootModuleOptions } from '@nestjs/bull';
import type Redis from 'ioredis';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import type { RedisConnections } from '../redis/redis-connections.service';
import { COMPLETED_JOBS_KEPT, FAILED_JOBS_KEPT } from './realtime-jobs.constants';

/** Bull's subscriber and blocking clients must wait for Redis instead of failing commands. */
const PATIENT = { maxRetriesPerRequest: null, enableReadyCheck: false };

/**
 * The Bull configuration of the library's queues, registered under its own
 * key (`BullModule.forRootAsync('@nest-realtime/server', …)`). Keys live under the
 * library's prefix (`rt:bull:<queue>:…`), and the connections are the
 * library's own (RedisConnections: same URL, TLS and options as everything
 * else, closed on shutdown): one command and one subscriber connection shared
 * by every library queue, and the blocking connection Bull needs per queue.
 */
export function realtimeBullConfig(
  options: ResolvedRealtimeOptions,
  redis: RedisConnections,
): BullRootModuleOptions {
  let client: Redis | undefined;
  let subscriber: Redis | undefined;
  return {
    prefix: redis.layout.bullPrefix,
    createClient(type) {
      switch (type) {
        case 'client':
          return (client ??= redis.open('bull'));
        case 'subscriber':
          // Re-subscribed by the library: ioredis's own re-subscription, refused, ends the process.
          return (subscriber ??= redis.open(
            'bull:subscriber',
            PATIENT,
            {},
            { resubscribing: true },
          ));
        default:
          return redis.open('bull:blocking', PATIENT);
      }
    },
    defaultJobOptions: {
      attempts: options.jobs.attempts,
      backoff: { type: 'exponential', delay: options.jobs.backoffMs },
      removeOnComplete: COMPLETED_JOBS_KEPT,
      removeOnFail: FAILED_JOBS_KEPT,
    },
  };
}
