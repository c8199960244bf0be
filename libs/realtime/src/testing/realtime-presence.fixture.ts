import { Inject, Injectable } from '@nestjs/common';
import { PRESENCE_STORE } from '../presence/presence.constants';
import type { PresenceStore } from '../presence/presence-store.port';

/** The one instance the fixture's connections are on; they never expire. */
const INSTANCE = 'realtime-testing';
const NEVER = Number.MAX_SAFE_INTEGER;

/**
 * Who is connected, for tests of domain code that reads PresenceService:
 * under RealtimeTestingModule, PresenceService is the real one over the
 * memory store, and the connections it counts are the ones opened here.
 *
 * @publicApi
 */
@Injectable()
export class RealtimePresenceFixture {
  private opened = 0;
  private readonly connections = new Map<string, { userId: string | null; topics: string[] }>();

  constructor(@Inject(PRESENCE_STORE) private readonly store: PresenceStore) {}

  /** A connection of `userId` (null: anonymous) subscribed to `topics`; resolves to its id. */
  async connect(userId: string | null, topics: readonly string[] = []): Promise<string> {
    const connectionId = `test-${++this.opened}`;
    this.connections.set(connectionId, { userId, topics: [...topics] });
    if (userId !== null) {
      await this.store.connect(INSTANCE, { connectionId, userId }, NEVER, Date.now());
    }
    for (const topic of topics) {
      await this.store.join(INSTANCE, { topic, connectionId, userId }, NEVER);
    }
    return connectionId;
  }

  /** Closes a connection `connect` opened (nothing for an unknown id). */
  async disconnect(connectionId: string): Promise<void> {
    const connection = this.connections.get(connectionId);
    if (!connection) return;
    this.connections.delete(connectionId);
    const { userId, topics } = connection;
    for (const topic of topics) await this.store.leave(INSTANCE, { topic, connectionId, userId });
    if (userId !== null)
      await this.store.disconnect(INSTANCE, { connectionId, userId }, Date.now());
  }
}
