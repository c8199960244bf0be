import type { RedisConnections } from '../../redis/redis-connections.service';

/**
 * Where cluster admission lives in Redis, under the library's prefix
 * (docs/scaling.md lists them with their lifetimes):
 * - `adm:ip:<ip>`, `adm:user:<id>`: hash, one field per instance: its open slots;
 * - `adm:rate:ip:<ip>`: the connect-rate counter of the current window;
 * - `adm:alive:<instance>`: liveness, refreshed by the instance, expiring after two cleanup intervals;
 * - `adm:held:<instance>`: set of the count hashes the instance has a field in;
 * - `adm:instances`: set of the instances that may hold counts.
 * On Redis Cluster the counts and rates carry their IP's or user's hash tag
 * (`adm:{ip:…}`, `adm:rate:{ip:…}`, `adm:{user:…}`), the others `{adm}`.
 */
export class AdmissionKeys {
  readonly instances: string;
  readonly alivePrefix: string;

  /** On Redis Cluster an IP's and a user's counters live in slots of their own (SlotAdmission). */
  readonly sharded: boolean;

  constructor(private readonly redis: RedisConnections) {
    this.sharded = redis.isCluster;
    this.instances = redis.layout.group('adm', 'instances');
    this.alivePrefix = redis.layout.group('adm', 'alive', '');
  }

  /** The count hash of a tally key (`ip:…` or `user:…`); on a cluster in the key's own slot. */
  count(tallyKey: string): string {
    if (this.sharded) return this.redis.key('adm', `{${tallyKey}}`);
    return this.redis.layout.group('adm', tallyKey);
  }

  /** An IP's connect-rate counter; on a cluster in the IP's slot, with its count. */
  rate(ipTallyKey: string): string {
    if (this.sharded) return this.redis.key('adm', 'rate', `{${ipTallyKey}}`);
    return this.redis.layout.group('adm', 'rate', ipTallyKey);
  }

  alive(instanceId: string): string {
    return this.alivePrefix + instanceId;
  }

  held(instanceId: string): string {
    return this.redis.layout.group('adm', 'held', instanceId);
  }
}
