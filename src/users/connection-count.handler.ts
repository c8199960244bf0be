import { Injectable } from '@nestjs/common';
import { OnRealtimeEvent } from '@nest-realtime/server';

/**
 * The demo's `connected` handler, registered only with
 * `DEMO_CONNECTED_HANDLER=1`: the library produces an event only when the app
 * handles it, so `npm run bench` starts the demo with and without this one to
 * measure what a connect storm costs when the app listens. Its own work is a
 * counter, so what the bench sees is the library's share (events built,
 * batched into jobs in Redis mode, handlers run), not the app's.
 */
@Injectable()
export class ConnectionCountHandler {
  private opened = 0;

  /** Connections opened on any instance whose event this instance handled. */
  get count(): number {
    return this.opened;
  }

  @OnRealtimeEvent('connected')
  connected(): void {
    this.opened++;
  }
}
