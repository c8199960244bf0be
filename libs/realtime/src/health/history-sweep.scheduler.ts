import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { RealtimeEngine } from '../engine/realtime-engine.port';
import { REALTIME_ENGINE } from '../realtime.constants';

const SWEEP = 'realtime-history-sweep';
const SWEEP_INTERVAL_MS = 30_000;

/** Drops expired history so topics nobody publishes to any more stop costing memory. */
@Injectable()
export class HistorySweepScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Realtime');

  constructor(
    @Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine,
    private readonly scheduler: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    const interval = setInterval(this.sweep, SWEEP_INTERVAL_MS);
    interval.unref();
    this.scheduler.addInterval(SWEEP, interval);
  }

  onApplicationShutdown(): void {
    if (this.scheduler.doesExist('interval', SWEEP)) this.scheduler.deleteInterval(SWEEP);
  }

  private readonly sweep = (): void => {
    try {
      this.engine.sweep(Date.now());
    } catch (error) {
      this.logger.error('history sweep failed', (error as Error)?.stack);
    }
  };
}
