import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_PRESENCE_LIMIT, MAX_PRESENCE_LIMIT } from '../protocol';
import { PRESENCE_STORE } from './presence.constants';
import type { PresenceCounts, PresencePage, PresenceStore } from './presence-store.port';

export interface PresencePageRequest {
  /** The previous page's cursor; none for the first page. */
  cursor?: string;
  /** Members per page, 0 to 1000 (0: the counts alone); 100 by default. */
  limit?: number;
}

/**
 * Who is online, across every instance: per topic of a namespace that keeps
 * presence (`topics.<ns>.presence`), and per user (any authenticated
 * connection). Counts cost the same whatever the topic's size; members come
 * in pages.
 *
 * @publicApi
 */
@Injectable()
export class PresenceService {
  constructor(@Inject(PRESENCE_STORE) private readonly store: PresenceStore) {}

  /** Subscribed connections and distinct users; zeros for a topic nobody holds (or that keeps no presence). */
  count(topic: string): Promise<PresenceCounts> {
    return this.store.count(topic, Date.now());
  }

  /** One page of members (rejects with InvalidPresenceCursorError for a cursor it did not hand out). */
  members(
    topic: string,
    { cursor, limit = DEFAULT_PRESENCE_LIMIT }: PresencePageRequest = {},
  ): Promise<PresencePage> {
    if (!Number.isSafeInteger(limit) || limit < 0 || limit > MAX_PRESENCE_LIMIT) {
      throw new RangeError(`limit must be an integer from 0 to ${MAX_PRESENCE_LIMIT}`);
    }
    return this.store.members(topic, cursor, limit, Date.now());
  }

  /** Whether the user has a connection on any instance. */
  isOnline(userId: string): Promise<boolean> {
    return this.store.isOnline(userId, Date.now());
  }

  /** Distinct users with a connection on any instance. */
  onlineUsers(): Promise<number> {
    return this.store.onlineUsers(Date.now());
  }
}
