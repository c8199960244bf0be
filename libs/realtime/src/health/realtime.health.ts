import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { RealtimeEngine } from '../engine/realtime-engine.port';
import { REALTIME_ENGINE } from '../realtime.constants';
import { ConnectionRegistry } from '../registry/connection.registry';

/**
 * A @nestjs/terminus indicator: up while the engine can carry messages (in Redis
 * mode: both connections ready and a PING answered).
 *
 * @publicApi
 */
@Injectable()
export class RealtimeHealthIndicator {
  constructor(
    @Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine,
    private readonly connections: ConnectionRegistry,
    private readonly indicators: HealthIndicatorService,
  ) {}

  async check(key = 'realtime'): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    const healthy = await this.engine.isHealthy();
    const { state, roundTripMs } = await this.engine.stats();
    const details = {
      engine: this.engine.name,
      state,
      ...(roundTripMs === undefined ? {} : { roundTripMs }),
      connections: this.connections.size,
    };
    return healthy ? indicator.up(details) : indicator.down(details);
  }
}
