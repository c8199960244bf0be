import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { AdmissionReaper } from '../auth/admission/admission-reaper';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { PRESENCE_STORE } from '../presence/presence.constants';
import type { PresenceStore } from '../presence/presence-store.port';
import { RealtimeEvents } from '../presence/lifecycle/realtime-events.service';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { CLEANUP_JOB, MAINTENANCE_QUEUE } from './realtime-jobs.constants';
import { RealtimeJobs } from './realtime-jobs.service';

export interface CleanupResult {
  /** Instances found dead (liveness expired) whose admission counts were deleted. */
  reapedInstances: number;
  /** Presence entries past their deadline (instances that died without leaving) removed. */
  sweptPresence: number;
}

/**
 * The cluster's housekeeping, once per cleanup interval across all
 * instances (a Bull repeatable: one job per occurrence, taken by one
 * worker). A failure is retried with exponential backoff and, after the
 * last attempt, kept in the queue's failed set.
 */
@Injectable()
export class MaintenanceProcessor implements OnModuleInit, OnApplicationBootstrap {
  private readonly logger = new Logger('Realtime');

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly jobs: RealtimeJobs,
    private readonly admission: AdmissionReaper,
    @Inject(PRESENCE_STORE) private readonly presence: PresenceStore,
    private readonly events: RealtimeEvents,
  ) {}

  onModuleInit(): void {
    this.jobs.process(MAINTENANCE_QUEUE, CLEANUP_JOB, 1, () => this.cleanup());
  }

  onApplicationBootstrap(): void {
    this.jobs.schedule(MAINTENANCE_QUEUE, CLEANUP_JOB, this.options.jobs.cleanupIntervalMs);
  }

  async cleanup(): Promise<CleanupResult> {
    const reapedInstances = await this.admission.reapDeadInstances();
    if (reapedInstances > 0) {
      this.logger.log(
        `cleanup: removed the admission counts of ${reapedInstances} dead instance(s)`,
      );
    }
    // Reads already ignore expired entries; this removes them from topics nobody reads.
    const { removed: sweptPresence, gone } = await this.presence.sweep(Date.now());
    // Users of an instance that died: nobody saw them leave, so this is their user.offline
    // (their last connection's deadline passed, well after the grace). Last seen: the last
    // renewal that vouched for them, a TTL before the deadline.
    const ttlMs = this.options.presence.ttlSeconds * 1_000;
    for (const { userId, deadline } of gone) {
      this.events.emit('user.offline', { userId, lastSeen: deadline - ttlMs });
    }
    return { reapedInstances, sweptPresence };
  }
}
