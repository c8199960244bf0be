import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { REALTIME_ENGINE } from '../realtime.constants';
import type { RealtimeEngine } from './realtime-engine.port';

/**
 * Starts the engine once the sink is attached, and closes it before the
 * Redis connections go (beforeApplicationShutdown runs ahead of every
 * onApplicationShutdown), so the engine's timers and subscriptions end first.
 */
@Injectable()
export class EngineLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine) {}

  onApplicationBootstrap(): Promise<void> {
    return this.engine.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.engine.close();
  }
}
