import { Injectable } from '@nestjs/common';
import { RedisConnections } from '../../redis/redis-connections.service';
import { AdmissionKeys } from './admission-keys';
import { FORGET_INSTANCE_SCRIPT } from './admission.scripts';
import { SlotAdmission } from './slot-admission';

/**
 * Deletes the counts of instances whose liveness key has expired (they
 * crashed or lost Redis for two cleanup intervals; one that comes back
 * writes its counts again). Run by the cluster's cleanup job.
 */
@Injectable()
export class AdmissionReaper {
  private readonly keys: AdmissionKeys;
  private slots: SlotAdmission | undefined;

  constructor(private readonly redis: RedisConnections) {
    this.keys = new AdmissionKeys(redis);
  }

  /** Resolves to the number of dead instances whose counts were removed. */
  async reapDeadInstances(): Promise<number> {
    const command = this.redis.command;
    let reaped = 0;
    if (this.keys.sharded) {
      // Instances of the layout before partitions, during (or left by) a rolling upgrade.
      for (const instanceId of await command.smembers(this.keys.legacyInstances)) {
        if ((await command.exists(this.keys.alive(instanceId))) === 1) continue;
        await this.slotAdmission().forgetLegacy(instanceId);
        reaped++;
      }
    }
    for (const instanceId of await command.smembers(this.keys.instances)) {
      if ((await command.exists(this.keys.alive(instanceId))) === 1) continue;
      if (this.keys.sharded) {
        // On a cluster its counts are spread over partitions: one call per partition.
        await this.slotAdmission().forget(instanceId);
        reaped++;
        continue;
      }
      await command.eval(
        FORGET_INSTANCE_SCRIPT,
        2,
        this.keys.held(instanceId),
        this.keys.instances,
        instanceId,
      );
      reaped++;
    }
    return reaped;
  }

  private slotAdmission(): SlotAdmission {
    this.slots ??= new SlotAdmission(this.redis.command, this.keys, '');
    return this.slots;
  }
}
