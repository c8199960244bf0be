import { DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { METRICS_PUBLIC, MetricsAccessGuard } from './metrics-access.guard';
import { OpsController } from './ops.controller';

@Module({})
export class OpsModule {
  static register(options: { metricsPublic: boolean }): DynamicModule {
    return {
      module: OpsModule,
      imports: [TerminusModule],
      controllers: [OpsController],
      providers: [{ provide: METRICS_PUBLIC, useValue: options.metricsPublic }, MetricsAccessGuard],
    };
  }
}
