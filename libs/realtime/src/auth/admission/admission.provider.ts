import type { Provider } from '@nestjs/common';
import type { ResolvedRealtimeOptions } from '../../options/resolved-options';
import { REALTIME_OPTIONS } from '../../realtime.constants';
import { RedisConnections } from '../../redis/redis-connections.service';
import { Admission } from './admission.port';
import { LocalAdmission } from './local.admission';
import { RedisAdmission } from './redis.admission';

/** Cluster-wide admission whenever Redis is configured; this process's counts otherwise. */
export const admissionProvider: Provider = {
  provide: Admission,
  useFactory: (options: ResolvedRealtimeOptions, redis: RedisConnections): Admission =>
    options.redis ? new RedisAdmission(options, redis) : new LocalAdmission(options),
  inject: [REALTIME_OPTIONS, RedisConnections],
};
