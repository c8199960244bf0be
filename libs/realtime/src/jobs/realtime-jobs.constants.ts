/**
 * The library's own Bull configuration key: its queues never read or replace
 * the host app's default `BullModule.forRoot()` configuration, nor one the
 * host names itself (a host's `forRoot('realtime', …)` would have taken the
 * library's queues to its Redis).
 */
export const REALTIME_BULL_CONFIG_KEY = '@nest-realtime/server';

/**
 * Periodic cluster-wide housekeeping (dead instances' admission counts, empty
 * topic state, expired revocations). Queue names are also Nest injection
 * tokens, hence the library prefix: a host queue named `maintenance` is
 * another queue.
 */
export const MAINTENANCE_QUEUE = 'realtime-maintenance';
/** The repeatable job of MAINTENANCE_QUEUE. */
export const CLEANUP_JOB = 'cleanup';

/**
 * Offline delivery (delivery/offline): a `dead-letter` job per dead letter
 * that hands it to the application's handler with attempts and backoff.
 * (`expire`: the delayed job per retained message of deployments before the
 * expiry sweep; only run, never created.)
 */
export const OFFLINE_QUEUE = 'realtime-offline';
export const OFFLINE_EXPIRE_JOB = 'expire';
export const OFFLINE_HAND_OVER_JOB = 'dead-letter';

/**
 * Lifecycle events (presence/lifecycle): a `deliver` job per batch of events
 * (the events of one event-loop turn), a `retry` job per handler call that
 * failed, with attempts and exponential backoff.
 */
export const EVENTS_QUEUE = 'realtime-events';
export const EVENTS_DELIVER_JOB = 'deliver';
export const EVENTS_RETRY_JOB = 'retry';

/**
 * Every queue of the library. A feature that needs a queue of its own adds
 * its name here and its processor class to REALTIME_JOB_PROVIDERS
 * (realtime-jobs.definition.ts); RealtimeJobs then opens, counts and closes it.
 */
export const REALTIME_QUEUE_NAMES: readonly string[] = [
  MAINTENANCE_QUEUE,
  OFFLINE_QUEUE,
  EVENTS_QUEUE,
];

/** Injection token: the library's Bull queues (empty without Redis). */
export const REALTIME_QUEUES = Symbol('REALTIME_QUEUES');
/** Injection token: the Bull configuration of the library's queues (Redis mode only). */
export const REALTIME_BULL_CONFIG = Symbol('REALTIME_BULL_CONFIG');
/** Injection token: whether the Bull queues are part of the module (decided statically). */
export const REALTIME_JOBS_WIRED = Symbol('REALTIME_JOBS_WIRED');

/** Failed jobs kept for inspection per queue; older ones are dropped. */
export const FAILED_JOBS_KEPT = 1000;
/** Completed jobs kept per queue (for inspection; their results are not used). */
export const COMPLETED_JOBS_KEPT = 100;
