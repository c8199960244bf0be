import { Controller, Get, Header, Res, UseGuards } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { RealtimeHealthIndicator, RealtimeMetricsService } from '@nest-realtime/server';
import type { Response } from 'express';
import { MetricsAccessGuard } from './metrics-access.guard';

@Controller()
export class OpsController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly realtimeHealth: RealtimeHealthIndicator,
    private readonly metricsService: RealtimeMetricsService,
  ) {}

  /** Liveness and readiness: 503 while the realtime engine cannot carry messages, and once shutdown began. */
  @Get('health')
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.realtimeHealth.check()]);
  }

  @Get('metrics')
  @UseGuards(MetricsAccessGuard)
  @Header('Cache-Control', 'no-store')
  async metrics(@Res() response: Response): Promise<void> {
    response.type(this.metricsService.contentType).send(await this.metricsService.metrics());
  }
}
