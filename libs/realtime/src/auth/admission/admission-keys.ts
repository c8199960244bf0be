import type { RedisConnections } from '../../redis/redis-connections.service';

/**
 * Where cluster admission lives in Redis, under the library's prefix
 * (docs/scaling.md lists them with their lifetimes):
 * - `adm:ip:<ip>`, `adm:user:<id>`: hash, one field per instance: its open slots;
 * - `adm:rate:ip:<ip>`: the connect-rate counter of the current window;
 * - `adm:alive:<instance>`: liveness, refreshed by the instance, expiring after two cleanup intervals;
 * - `adm:held:<instance>`: set of the count hashes the instance has a field in;
 * - `adm:instances`: set of the instances that may hold counts.
 */
export class AdmissionKeys {
  readonly instances: string;
  readonly alivePrefix: string;

  constructor(private readonly redis: RedisConnections) {
    this.instances = redis.layout.group('adm', 'instances');
    this.alivePrefix = redis.layout.group('adm', 'alive', '');
  }

  /** The count hash of a tally key (`ip:…` or `user:…`). */
  count(tallyKey: string): string {
    return this.redis.layout.group('adm', tallyKey);
  }

  rate(ipTallyKey: string): string {
    return this.redis.layout.group('adm', 'rate', ipTallyKey);
  }

  alive(instanceId: string): string {
    return this.alivePrefix + instanceId;
  }

  held(instanceId: string): string {
    return this.redis.layout.group('adm', 'held', instanceId);
  }
}
