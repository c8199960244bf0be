import { Inject, Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { EngineStats, RealtimeEngine } from '../engine/realtime-engine.port';
import { Admission } from '../auth/admission/admission.port';
import { RealtimeJobs, type QueueCounts } from '../jobs/realtime-jobs.service';
import { REALTIME_ENGINE } from '../realtime.constants';
import { ConnectionRegistry } from '../registry/connection.registry';
import { SubscriptionRegistry } from '../registry/subscription.registry';
import { RealtimeEvents } from '../presence/lifecycle/realtime-events.service';
import { RealtimeCounters } from './realtime-counters';

/**
 * Prometheus metrics in a registry of the module's own (so two apps in one
 * process, or tests, never collide). Values are read from the plain counters
 * at scrape time, never on the message path.
 *
 * @publicApi
 */
@Injectable()
export class RealtimeMetricsService {
  readonly registry = new Registry();

  constructor(
    counters: RealtimeCounters,
    connections: ConnectionRegistry,
    subscriptions: SubscriptionRegistry,
    @Inject(REALTIME_ENGINE) engine: RealtimeEngine,
    jobs: RealtimeJobs,
    admission: Admission,
    events: RealtimeEvents,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'realtime_' });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    const total = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    const labelled = (
      name: string,
      help: string,
      label: string,
      read: () => Map<string | number, number>,
    ) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const [key, value] of read()) this.inc({ [label]: String(key) }, value);
        },
      });

    total(
      'realtime_events_emitted_total',
      'Lifecycle events this instance produced (only those with a handler)',
      () => events.emittedCount,
    );
    new Gauge({
      name: 'realtime_events_dead_lettered',
      help: 'Lifecycle events whose handler failed every attempt (cluster-wide in Redis mode)',
      registers,
      async collect() {
        // Redis unreachable: the gauge keeps its last value rather than fail the scrape.
        const stats = await events.stats().catch(() => undefined);
        if (stats) this.set(stats.deadLettered);
      },
    });
    gauge('realtime_connections', 'Open WebSocket connections', () => connections.size);
    gauge('realtime_users', 'Distinct signed-in users connected', () => connections.userCount);
    gauge('realtime_topics', 'Topics with local subscribers', () => subscriptions.topicCount);
    gauge(
      'realtime_subscriptions',
      'Subscriptions across connections',
      () => subscriptions.subscriptionCount,
    );
    const engineStats = latest(() => engine.stats());
    const engineGauge = (name: string, help: string, read: (stats: EngineStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(read(await engineStats()));
        },
      });
    engineGauge(
      'realtime_engine_up',
      'Whether the engine can carry messages (1) or not (0)',
      (s) => (s.state === 'up' ? 1 : 0),
    );
    engineGauge(
      'realtime_engine_round_trip_seconds',
      'Round trip to Redis (PING); -1 when down, 0 for the memory engine',
      (s) => (s.roundTripMs === undefined ? (s.state === 'up' ? 0 : -1) : s.roundTripMs / 1000),
    );
    engineGauge(
      'realtime_engine_watched_topics',
      'Topics this instance receives from the engine',
      (s) => s.watchedTopics,
    );
    engineGauge(
      'realtime_history_topics',
      'Topics with retained history (cluster-wide in Redis mode)',
      (s) => s.historyTopics,
    );
    new Counter({
      name: 'realtime_engine_received_total',
      help: 'Topic messages this instance received from the engine',
      registers,
      async collect() {
        this.reset();
        this.inc((await engineStats()).received);
      },
    });
    if (engine.name === 'memory') {
      engineGauge(
        'realtime_history_messages',
        'Messages retained for recovery',
        (s) => s.retainedMessages ?? 0,
      );
      engineGauge(
        'realtime_history_bytes',
        'Bytes of retained history (frames and bookkeeping), bounded by history.maxTotalBytes',
        (s) => s.retainedBytes ?? 0,
      );
    }
    total(
      'realtime_messages_published_total',
      'Messages published to topics',
      () => counters.published,
    );
    total(
      'realtime_messages_delivered_total',
      'Frames written to sockets',
      () => counters.delivered,
    );
    total('realtime_connections_accepted_total', 'Handshakes accepted', () => counters.accepted);
    total(
      'realtime_slow_consumers_total',
      'Connections closed as slow consumers',
      () => counters.slowConsumers,
    );
    labelled(
      'realtime_handshakes_refused_total',
      'Handshakes refused',
      'status',
      () => counters.refused,
    );
    labelled(
      'realtime_connections_closed_total',
      'Connections closed',
      'code',
      () => counters.closed,
    );
    labelled('realtime_errors_total', 'Error frames sent', 'code', () => counters.errors);
    gauge(
      'realtime_admission_cluster',
      'Whether admission counts the cluster (1) or, while Redis does not answer, this process (0)',
      () => (admission.mode === 'cluster' ? 1 : 0),
    );
    if (jobs.enabled) {
      queueGauge(jobs, registers);
      labelled(
        'realtime_jobs_completed_total',
        'Library jobs this instance completed, by queue/job',
        'job',
        () => new Map(Object.entries(jobs.runs().completed)),
      );
      labelled(
        'realtime_jobs_failed_attempts_total',
        'Library job attempts that failed on this instance (retries included), by queue/job',
        'job',
        () => new Map(Object.entries(jobs.runs().failedAttempts)),
      );
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

/** One engine.stats() per scrape, shared by the gauges that read it (a Redis round trip each otherwise). */
function latest(read: () => Promise<EngineStats>): () => Promise<EngineStats> {
  let pending: Promise<EngineStats> | undefined;
  return () => {
    if (!pending) {
      pending = read();
      const clear = () => setTimeout(() => (pending = undefined), 0);
      pending.then(clear, clear);
    }
    return pending;
  };
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/** Jobs per library queue and state, read from Redis at scrape time; no samples while Redis is unreachable. */
function queueGauge(jobs: RealtimeJobs, registers: Registry[]): void {
  new Gauge({
    name: 'realtime_queue_jobs',
    help: 'Jobs in the library queues (cluster-wide), by queue and state',
    labelNames: ['queue', 'state'],
    registers,
    async collect() {
      this.reset();
      const counts: Record<string, QueueCounts> = await jobs.counts().catch(() => ({}));
      for (const [queue, states] of Object.entries(counts)) {
        for (const state of QUEUE_STATES) this.set({ queue, state }, states[state]);
      }
    },
  });
}
