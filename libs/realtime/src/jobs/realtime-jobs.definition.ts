import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import type { DynamicModule, Provider } from '@nestjs/common';
import { BullModule, getQueueToken } from '@nestjs/bull';
import type { BullRootModuleOptions } from '@nestjs/bull';
import { AdmissionReaper } from '../auth/admission/admission-reaper';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { RedisConnections } from '../redis/redis-connections.service';
import { realtimeBullConfig } from './realtime-bull.config';
import {
  REALTIME_BULL_CONFIG,
  REALTIME_BULL_CONFIG_KEY,
  REALTIME_JOBS_WIRED,
  REALTIME_QUEUE_NAMES,
  REALTIME_QUEUES,
} from './realtime-jobs.constants';
import { RealtimeJobs } from './realtime-jobs.service';
import { MaintenanceProcessor } from './maintenance.processor';
import { OfflineProcessor } from './offline.processor';
import { LifecycleProcessor } from './lifecycle.processor';

/**
 * The processors of the library's queues (see REALTIME_QUEUE_NAMES), which
 * hand their job handlers to RealtimeJobs.process, and what only they use:
 * providers in Redis mode only. They are not `@Processor` classes: the
 * host's BullExplorer (one per app, shared with the host's own queues) would
 * start their workers before Redis answers and drop the failure.
 */
export const REALTIME_JOB_PROVIDERS: Provider[] = [
  MaintenanceProcessor,
  AdmissionReaper,
  OfflineProcessor,
  LifecycleProcessor,
];

/**
 * Adds the library's background jobs to RealtimeModule's definition. Whether
 * Bull is there at all is decided here, before any factory runs: forRoot
 * passes whether its options have `redis`; forRootAsync passes its
 * `usesRedis` flag (RealtimeJobs refuses to start if the factory then
 * disagrees). Without Redis only an empty RealtimeJobs is added: no queue,
 * no processor, no connection.
 *
 * With Redis, the queues are registered under the library's own Bull key:
 * the host's `BullModule.forRoot()` configuration is neither read nor
 * replaced, and the host's processors are explored once, by the one
 * BullExplorer every `registerQueue` shares (the library's workers are
 * started by RealtimeJobs).
 */
export function withRealtimeJobs(definition: DynamicModule, usesRedis: boolean): DynamicModule {
  const providers: Provider[] = [
    ...(definition.providers ?? []),
    RealtimeJobs,
    { provide: REALTIME_JOBS_WIRED, useValue: usesRedis },
  ];
  const exported = [...(definition.exports ?? []), RealtimeJobs];
  if (!usesRedis) {
    return {
      ...definition,
      providers: [...providers, { provide: REALTIME_QUEUES, useValue: [] }],
      exports: exported,
    };
  }
  const withJobs: DynamicModule = {
    ...definition,
    providers: [
      ...providers,
      {
        provide: REALTIME_BULL_CONFIG,
        useFactory: realtimeBullConfig,
        inject: [REALTIME_OPTIONS, RedisConnections],
      },
      {
        provide: REALTIME_QUEUES,
        useFactory: (...queues: unknown[]) => queues,
        inject: REALTIME_QUEUE_NAMES.map((name) => getQueueToken(name)),
      },
      ...REALTIME_JOB_PROVIDERS,
    ],
    exports: [...exported, REALTIME_BULL_CONFIG],
  };
  withJobs.imports = [
    ...(definition.imports ?? []),
    BullModule.forRootAsync(REALTIME_BULL_CONFIG_KEY, {
      // The config is built inside RealtimeModule (it needs the library's
      // connections); importing the module here makes it reachable even
      // when RealtimeModule is not global.
      imports: [withJobs],
      inject: [REALTIME_BULL_CONFIG],
      useFactory: (config: BullRootModuleOptions) => config,
    }),
    BullModule.registerQueue(
      ...REALTIME_QUEUE_NAMES.map((name) => ({ name, configKey: REALTIME_BULL_CONFIG_KEY })),
    ),
  ];
  return withJobs;
}

/**
 * forRootAsync decides on Bull before its factory runs; a mismatch would
 * silently lose the cleanup job or open Redis in memory mode. Checked when the
 * options resolve, before any provider opens a connection.
 */
export function assertJobsWiring(options: ResolvedRealtimeOptions, wired: boolean): void {
  if (wired === (options.redis !== undefined)) return;
  throw new Error(
    wired
      ? 'RealtimeModule: usesRedis is true but the options configure no "redis"'
      : 'RealtimeModule.forRootAsync: the factory configures "redis"; pass usesRedis: true next to useFactory so the module includes its Bull queues',
  );
}
