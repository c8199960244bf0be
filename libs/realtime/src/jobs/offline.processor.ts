import { Process, Processor } from '@nestjs/bull';
import type { Job } from 'bull';
import type { DeadLetter } from '../delivery/offline/offline-message';
import { OfflineDeliveryService } from '../delivery/offline/offline-delivery.service';
import type { ExpireJob } from '../delivery/offline/bull-offline.scheduler';
import {
  OFFLINE_EXPIRE_JOB,
  OFFLINE_HAND_OVER_JOB,
  OFFLINE_QUEUE,
} from './realtime-jobs.constants';

/**
 * Expiries are one short script each; hand-overs run the app's handler, one
 * at a time per instance. (No expiry job is created any more: ExpirySweeper
 * sweeps the deadlines. The ones a deployment before sweeping left delayed
 * in Redis still run here when due, for the messages they name.)
 */
const EXPIRE_CONCURRENCY = 4;

/**
 * Redis mode: offline delivery's jobs, taken by whichever instance is free
 * (the instance that scheduled one may be gone). A throw is retried with the
 * job's attempts and exponential backoff, then kept in the failed set.
 */
@Processor(OFFLINE_QUEUE)
export class OfflineProcessor {
  constructor(private readonly offline: OfflineDeliveryService) {}

  @Process({ name: OFFLINE_EXPIRE_JOB, concurrency: EXPIRE_CONCURRENCY })
  expire(job: Job<ExpireJob>): Promise<void> {
    return this.offline.expire(job.data.userId, job.data.id);
  }

  @Process(OFFLINE_HAND_OVER_JOB)
  handOver(job: Job<DeadLetter>): Promise<void> {
    return this.offline.handOver(job.data);
  }
}
