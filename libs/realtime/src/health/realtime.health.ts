import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { RealtimeEngine } from '../engine/realtime-engine.port';
import { REALTIME_ENGINE } from '../realtime.constants';
import { ConnectionRegistry } from '../registry/connection.registry';

/**
 * A @nestjs/terminus indicator: up while the engine can carry messages (in Redis
 * mode: both connections ready and a PING answered) and the instance accepts
 * handshakes. From the start of shutdown, or of a drain(), it is down with
 * `draining: true`: a load balancer that checks readiness stops sending
 * clients that would only get 503.
 *
 * @publicApi
 */
@Injectable()
export class RealtimeHealthIndicator {
  private draining = false;

  constructor(
    @Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine,
    private readonly connections: ConnectionRegistry,
    private readonly indicators: HealthIndicatorService,
  ) {}

  /** @internal RealtimeLifecycleService calls it as shutdown, or a drain(), begins: for good. */
  markDraining(): void {
    this.draining = true;
  }

  async check(key = 'realtime'): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    if (this.draining) {
      // The engine is not asked: it closes during shutdown, and the answer is no either way.
      return indicator.down({
        engine: this.engine.name,
        draining: true,
        connections: this.connections.size,
      });
    }
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
