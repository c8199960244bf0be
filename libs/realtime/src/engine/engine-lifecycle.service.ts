import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { REALTIME_ENGINE } from '../realtime.constants';
import type { RealtimeEngine } from './realtime-engine.port';

/**
 * Starts the engine once the sink is attached. Closing it is a step of the
 * shutdown order (RealtimeLifecycleService): after the sockets' owed replies
 * and the last job, which may publish, and before the Redis connections go
 * (they close in onApplicationShutdown, after every beforeApplicationShutdown),
 * so the engine's timers and subscriptions end first.
 */
@Injectable()
export class EngineLifecycle implements OnApplicationBootstrap {
  constructor(@Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine) {}

  onApplicationBootstrap(): Promise<void> {
    return this.engine.start();
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
