import { Injectable } from '@nestjs/common';
import { OnRealtimeEvent, type RealtimeEvent } from '@nest-realtime/server';
import { LastSeenStore } from './last-seen.store';

/** The demo's own handler of the library's `user.offline` event (PROTOCOL §7). */
@Injectable()
export class LastSeenHandler {
  constructor(private readonly store: LastSeenStore) {}

  /** A throw (Redis down) is retried by the library, with backoff. */
  @OnRealtimeEvent('user.offline')
  async offline(event: RealtimeEvent<'user.offline'>): Promise<void> {
    await this.store.record(event.data.userId, event.data.lastSeen);
  }
}
