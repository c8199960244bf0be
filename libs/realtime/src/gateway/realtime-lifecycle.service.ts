import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnModuleDestroy,
} from '@nestjs/common';
import { HandshakeService } from '../auth/handshake.service';
import { OfflineDeliveryService } from '../delivery/offline/offline-delivery.service';
import { failureDetail } from '../engine/engine-unavailable.error';
import { EngineLifecycle } from '../engine/engine-lifecycle.service';
import { RealtimeHealthIndicator } from '../health/realtime.health';
import { RealtimeJobs } from '../jobs/realtime-jobs.service';
import { settleWithin } from '../jobs/settle-within';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import type { LifecycleDispatcher } from '../presence/lifecycle/lifecycle-dispatcher';
import { LIFECYCLE_DISPATCHER } from '../presence/lifecycle/lifecycle.constants';
import { PresenceTracker } from '../presence/presence.tracker';
import { CloseCode } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { ConnectionRegistry } from '../registry/connection.registry';
import { SocketWriter } from '../transport/socket-writer.service';

const POLL_MS = 20;

/**
 * Graceful shutdown, and the one place that orders it. Nest orders its hooks
 * by dependency depth, which says nothing about what must happen first, so
 * the library's parts have no shutdown hooks of their own: this runs them,
 * in this order.
 *
 * 1. From the first hook of shutdown, new handshakes get 503 and /health
 *    reports not ready (a load balancer stops sending clients here).
 * 2. No Bull job is taken, presence stops its timers. Jobs already running
 *    get `shutdown.graceMs` to finish, side by side with the drain.
 * 3. The drain: every client gets the replies it is owed, then a close frame
 *    (`shutdown.closeCode`); it waits up to `shutdown.graceMs` for them.
 * 4. Offline delivery stops its timers. Once the last producer of lifecycle
 *    events is done (the closes, the jobs), the events still gathered are
 *    queued, then the queues close.
 * 5. The engine closes; the Redis connections close last (RedisConnections,
 *    in onApplicationShutdown, which Nest runs after every
 *    beforeApplicationShutdown).
 *
 * Steps 2–3 share one `shutdown.graceMs`, steps 4–5 another, which only a
 * Redis that does not answer uses up. Call drain(1012) yourself before a
 * planned restart.
 *
 * @publicApi
 */
@Injectable()
export class RealtimeLifecycleService implements OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger('Realtime');

  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly handshake: HandshakeService,
    private readonly connections: ConnectionRegistry,
    private readonly writer: SocketWriter,
    private readonly presence: PresenceTracker,
    private readonly offline: OfflineDeliveryService,
    private readonly jobs: RealtimeJobs,
    @Inject(LIFECYCLE_DISPATCHER) private readonly events: LifecycleDispatcher,
    private readonly engine: EngineLifecycle,
    private readonly health: RealtimeHealthIndicator,
  ) {}

  /** Nest runs every onModuleDestroy before any beforeApplicationShutdown: the earliest point of shutdown. */
  onModuleDestroy(): void {
    this.stopAccepting();
  }

  async beforeApplicationShutdown(): Promise<void> {
    const { closeCode, graceMs } = this.options.shutdown;
    this.stopAccepting();
    // Alongside the drain, within its grace: the queues stay open (a running job, and the events
    // of the closes below, still add jobs).
    const draining = Date.now() + graceMs;
    const stopped = Promise.all([
      this.step('stopping jobs', () => this.jobs.stop(graceMs), draining),
      this.step('stopping presence', () => this.presence.stop(), draining),
    ]);
    await this.drain(closeCode);
    await stopped;
    // The rest shares one more grace, which only a Redis that does not answer uses up. Offline
    // delivery stops after the drain: a retained message sent during it is still handed over.
    const closing = Date.now() + graceMs;
    await this.step('stopping offline delivery', () => this.offline.stop(), closing);
    // After the last producer of events: the closes' and the jobs' (a cleanup's user.offline).
    await this.step(
      'queueing the last lifecycle events',
      () => this.events.close(graceMs),
      closing,
    );
    await this.step('closing the queues', () => this.jobs.close(graceMs), closing);
    // After the owed replies and the last job, which may publish.
    await this.step('closing the engine', () => this.engine.close(), closing);
  }

  /** Stops accepting and closes every connection; resolves when all are gone or the grace is over. */
  async drain(
    code: typeof CloseCode.GoingAway | typeof CloseCode.ServiceRestart = CloseCode.ServiceRestart,
  ): Promise<void> {
    this.stopAccepting();
    const open = this.connections.size;
    if (open === 0) return;
    this.logger.log(`closing ${open} connections with ${code}`);
    const graceMs = this.options.shutdown.graceMs;
    // After the replies owed: a publish whose engine call went out must get its `published`, or
    // its client, reconnecting, publishes again. A reply that never comes holds its close back
    // for the grace at most; requests arriving from now on are dropped unread.
    for (const connection of [...this.connections.all()])
      this.writer.closeAfterPending(connection, code, graceMs);
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** For good: 503 to every handshake, and /health not ready (a load balancer sends no more clients). */
  private stopAccepting(): void {
    this.handshake.stopAccepting();
    this.health.markDraining();
  }

  /** One step of the shutdown, bounded by `deadline`: a failure or a timeout is logged, and the next step runs. */
  private async step(what: string, work: () => Promise<unknown>, deadline: number): Promise<void> {
    // Started at once (a throw becomes a rejection): the steps begun before the drain run first.
    const done = new Promise((resolve) => resolve(work())).catch((error: unknown) =>
      this.logger.error(`shutdown: ${what} failed: ${failureDetail(error)}`),
    );
    if (!(await settleWithin(done, Math.max(0, deadline - Date.now())))) {
      this.logger.warn(`shutdown: ${what} ran past shutdown.graceMs; going on`);
    }
  }
}
