import { ConfigurableModuleBuilder } from '@nestjs/common';
import { withRealtimeJobs } from './jobs/realtime-jobs.definition';
import type { RealtimeModuleOptions } from './options/realtime-module-options.interface';

export const {
  ConfigurableModuleClass: ConfigurableRealtimeModule,
  MODULE_OPTIONS_TOKEN: REALTIME_MODULE_OPTIONS,
  OPTIONS_TYPE: REALTIME_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: REALTIME_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<RealtimeModuleOptions>({ moduleName: 'Realtime' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createRealtimeOptions')
  // Global by default: import forRoot once in the root module, inject BroadcastService anywhere.
  // usesRedis: forRootAsync's static answer to "does the factory configure redis?" (forRoot reads its options).
  .setExtras<{ isGlobal: boolean; usesRedis: boolean }>(
    { isGlobal: true, usesRedis: false },
    (definition, extras) =>
      withRealtimeJobs(
        { ...definition, global: extras.isGlobal },
        extras.usesRedis || Boolean((extras as RealtimeModuleOptions).redis),
      ),
  )
  .build();
