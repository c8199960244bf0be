import { ConfigurableModuleBuilder } from '@nestjs/common';
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
  .setExtras({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
