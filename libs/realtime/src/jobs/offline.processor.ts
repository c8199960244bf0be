import { Injectable, OnModuleInit } from '@nestjs/common';
import type { Job } from 'bull';
import type { DeadLetter } from '../delivery/offline/offline-message';
import { OfflineDeliveryService } from '../delivery/offline/offline-delivery.service';
import type { ExpireJob } from '../delivery/offline/bull-offline.scheduler';
import {
  OFFLINE_EXPIRE_JOB,
  OFFLINE_HAND_OVER_JOB,
  OFFLINE_QUEUE,
} from './realtime-jobs.constants';
import { RealtimeJobs } from './realtime-jobs.service';

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
@Injectable()
export class OfflineProcessor implements OnModuleInit {
  constructor(
    private readonly offline: OfflineDeliveryService,
    private readonly jobs: RealtimeJobs,
  ) {}

  onModuleInit(): void {
    this.jobs.process(
      OFFLINE_QUEUE,
      OFFLINE_EXPIRE_JOB,
      EXPIRE_CONCURRENCY,
      (job: Job<ExpireJob>) => this.expire(job),
    );
    this.jobs.process(OFFLINE_QUEUE, OFFLINE_HAND_OVER_JOB, 1, (job: Job<DeadLetter>) =>
      this.handOver(job),
    );
  }

  expire(job: Job<ExpireJob>): Promise<void> {
    return this.offline.expire(job.data.userId, job.data.id);
  }

  handOver(job: Job<DeadLetter>): Promise<void> {
    return this.offline.handOver(job.data);
  }
}
