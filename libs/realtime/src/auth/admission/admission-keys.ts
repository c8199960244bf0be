import { hashSlot } from '../../redis/hash-slot';
import { partitionOf, spreadPartitionTags } from '../../redis/partition-tags';
import type { RedisConnections } from '../../redis/redis-connections.service';

/**
 * Admission's partitions on Redis Cluster: IPs and users are spread over
 * this many, each in its own slot, spaced evenly over the slot range. A
 * constant, not an option: every instance must put a user in the same one.
 */
export const ADMISSION_PARTITIONS = 16;

/**
 * Where cluster admission lives in Redis, under the library's prefix
 * (docs/scaling.md lists them with their lifetimes):
 * - `adm:ip:<ip>`, `adm:user:<id>`: hash, one field per instance: its open slots;
 * - `adm:rate:ip:<ip>`: the connect-rate counter of the current window;
 * - `adm:alive:<instance>`: liveness, refreshed by the instance, expiring after two cleanup intervals;
 * - `adm:held:<instance>`: set of the count hashes the instance has a field in;
 * - `adm:instances`: set of the instances that may hold counts.
 * On Redis Cluster the counts, rates and held-keys sets are spread over
 * ADMISSION_PARTITIONS partitions (`rt:{adm:<tag>}:ip:…`, `…:rate:ip:…`,
 * `…:user:…`, `…:held:<instance>`), an IP or user in the partition of its
 * key, so a turn's handshakes cost at most one script call per partition
 * and step (one per master where it serves several, SlotAdmission);
 * liveness and the registry (`rt:{adm}:partitioned:instances`) stay in
 * `{adm}`.
 */
export class AdmissionKeys {
  readonly instances: string;
  readonly alivePrefix: string;

  /** On Redis Cluster an IP's and a user's counters live in their partition (SlotAdmission). */
  readonly sharded: boolean;
  /** Partitions' key prefixes on a cluster; empty on one Redis. */
  private readonly partitionPrefixes: string[];
  /** Partitions' hash slots on a cluster (where their keys' master is found); empty on one Redis. */
  private readonly partitionSlots: number[];
  /** On one Redis: the prefixes of count hashes and rate counters (built once, not per handshake). */
  private readonly countPrefix: string;
  private readonly ratePrefix: string;

  constructor(private readonly redis: RedisConnections) {
    this.sharded = redis.isCluster;
    // A registry of its own on a cluster: a reaper of the layout before partitions does not know it.
    this.instances = this.sharded
      ? redis.layout.group('adm', 'partitioned', 'instances')
      : redis.layout.group('adm', 'instances');
    this.alivePrefix = redis.layout.group('adm', 'alive', '');
    this.countPrefix = redis.layout.group('adm', '');
    this.ratePrefix = redis.layout.group('adm', 'rate', '');
    this.partitionPrefixes = this.sharded
      ? spreadPartitionTags(ADMISSION_PARTITIONS, (tag) =>
          redis.layout.admissionPartition(tag),
        ).map((tag) => redis.layout.admissionPartition(tag))
      : [];
    this.partitionSlots = this.partitionPrefixes.map((prefix) => hashSlot(prefix));
  }

  /** How many partitions there are (1 on one Redis: the `{adm}` group). */
  get partitions(): number {
    return this.sharded ? ADMISSION_PARTITIONS : 1;
  }

  /** The partition of a tally key (`ip:…` or `user:…`). */
  partition(tallyKey: string): number {
    return this.sharded ? partitionOf(tallyKey, ADMISSION_PARTITIONS) : 0;
  }

  /** The count hash of a tally key; on a cluster in the key's partition. */
  count(tallyKey: string): string {
    if (this.sharded) return this.partitionPrefixes[this.partition(tallyKey)] + tallyKey;
    return this.countPrefix + tallyKey;
  }

  /** An IP's connect-rate counter; on a cluster in the IP's partition, with its count. */
  rate(ipTallyKey: string): string {
    if (this.sharded)
      return `${this.partitionPrefixes[this.partition(ipTallyKey)]}rate:${ipTallyKey}`;
    return this.ratePrefix + ipTallyKey;
  }

  alive(instanceId: string): string {
    return this.alivePrefix + instanceId;
  }

  /** The instance's held-keys set (on one Redis; on a cluster, of the layout before partitions). */
  held(instanceId: string): string {
    return this.redis.layout.group('adm', 'held', instanceId);
  }

  /** On a cluster: the instance's held-keys set of one partition, in the partition's slot. */
  partitionHeld(partition: number, instanceId: string): string {
    return `${this.partitionPrefixes[partition]}held:${instanceId}`;
  }

  /** On a cluster: the hash slot of a partition's keys. */
  partitionSlot(partition: number): number {
    return this.partitionSlots[partition];
  }

  /** On a cluster: the registry of the layout before partitions (reaped for an upgrade). */
  get legacyInstances(): string {
    return this.redis.layout.group('adm', 'instances');
  }
}
