import type { Provider } from '@nestjs/common';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { RedisConnections } from '../redis/redis-connections.service';
import { MemoryPresenceStore } from './memory-presence.store';
import { PRESENCE_STORE } from './presence.constants';
import type { PresenceStore } from './presence-store.port';
import { RedisPresenceStore } from './redis-presence.store';

/** A topic's log holds twice the users a diff may name, so one interval's changes fit. */
export function presenceLogEntries(options: ResolvedRealtimeOptions): number {
  return Math.max(2 * options.presence.maxDiffUsers, 256);
}

/** Redis mode keeps presence in Redis, shared by every instance; memory mode in this process. */
export const PRESENCE_STORE_PROVIDER: Provider = {
  provide: PRESENCE_STORE,
  inject: [REALTIME_OPTIONS, RedisConnections],
  useFactory: (options: ResolvedRealtimeOptions, redis: RedisConnections): PresenceStore =>
    options.engine.type === 'redis'
      ? new RedisPresenceStore(redis, {
          maxLogEntries: presenceLogEntries(options),
          // Renewals refresh it every third of the TTL; an abandoned topic's keys go after three TTLs.
          keepMs: options.presence.ttlSeconds * 3_000,
        })
      : new MemoryPresenceStore(presenceLogEntries(options)),
};
