import type { Provider } from '@nestjs/common';
import type { ResolvedRealtimeOptions } from '../../options/resolved-options';
import { REALTIME_OPTIONS } from '../../realtime.constants';
import { RedisConnections } from '../../redis/redis-connections.service';
import { IDEMPOTENCY_STORE, type IdempotencyStore } from './idempotency-store.port';
import { MemoryIdempotencyStore } from './memory-idempotency.store';
import { RedisIdempotencyStore } from './redis-idempotency.store';

export const IDEMPOTENCY_PROVIDER: Provider = {
  provide: IDEMPOTENCY_STORE,
  inject: [REALTIME_OPTIONS, RedisConnections],
  useFactory: (options: ResolvedRealtimeOptions, redis: RedisConnections): IdempotencyStore =>
    options.engine.type === 'redis'
      ? new RedisIdempotencyStore(redis)
      : new MemoryIdempotencyStore(options.idempotency.maxKeys),
};
