import { assertJobsWiring } from './jobs/realtime-jobs.definition';
import { REALTIME_JOBS_WIRED } from './jobs/realtime-jobs.constants';
import type { RealtimeModuleOptions } from './options/realtime-module-options.interface';
import { randomUUID } from 'node:crypto';
import { Logger, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { admissionProvider } from './auth/admission/admission.provider';
import { FixedWindowStorage } from './auth/fixed-window.storage';
import { HandshakeService } from './auth/handshake.service';
import { MessageRateLimiter } from './auth/message-rate.limiter';
import { SessionRules } from './auth/session-rules';
import { RevocationService } from './auth/revocation.service';
import { TokenService } from './auth/token.service';
import { WsAuthGuard } from './gateway/ws-auth.guard';
import { WsThrottlerGuard } from './auth/ws-throttler.guard';
import { BroadcastService } from './delivery/broadcast.service';
import { FanOutService } from './delivery/fan-out.service';
import { IDEMPOTENCY_PROVIDER } from './delivery/idempotency/idempotency.providers';
import { IdempotencyService } from './delivery/idempotency/idempotency.service';
import { OfflineDeliveryService } from './delivery/offline/offline-delivery.service';
import { OFFLINE_PROVIDERS } from './delivery/offline/offline.providers';
import { SocketWriter } from './transport/socket-writer.service';
import { SubscriptionService } from './delivery/subscription.service';
import { createEngine } from './engine/create-engine';
import { EngineLifecycle } from './engine/engine-lifecycle.service';
import { RealtimeExceptionFilter } from './gateway/realtime-exception.filter';
import { RealtimeLifecycleService } from './gateway/realtime-lifecycle.service';
import { RealtimeGateway } from './gateway/realtime.gateway';
import { MessageDispatcher } from './gateway/message-dispatcher';
import { SessionService } from './gateway/session.service';
import { HeartbeatScheduler } from './health/heartbeat.scheduler';
import { RealtimeHealthIndicator } from './health/realtime.health';
import { RealtimeCounters } from './metrics/realtime-counters';
import { RealtimeMetricsService } from './metrics/realtime-metrics.service';
import { resolveRealtimeOptions } from './options/resolve-options';
import { PresenceService } from './presence/presence.service';
import { PRESENCE_STORE_PROVIDER } from './presence/presence.providers';
import { PresenceTracker } from './presence/presence.tracker';
import { LIFECYCLE_PROVIDERS } from './presence/lifecycle/lifecycle.providers';
import { RealtimeEvents } from './presence/lifecycle/realtime-events.service';
import { RedisConnections } from './redis/redis-connections.service';
import { ConnectionRegistry } from './registry/connection.registry';
import { SubscriptionRegistry } from './registry/subscription.registry';
import {
  DEV_JWT_SECRET,
  REALTIME_CONNECT_RATE_STORAGE,
  REALTIME_ENGINE,
  REALTIME_INSTANCE_ID,
  REALTIME_OPTIONS,
  REALTIME_REVOCATIONS,
  REALTIME_THROTTLER_STORAGE,
} from './realtime.constants';
import { ConfigurableRealtimeModule, REALTIME_MODULE_OPTIONS } from './realtime.module-definition';
import { SubscriptionRules } from './topics/subscription-rules';
import { TopicAccessService } from './topics/topic-access.service';

/**
 * Live updates over WebSocket. Import `RealtimeModule.forRoot({...})` once,
 * install `RealtimeWsAdapter`, and inject `BroadcastService` where domain code
 * needs to publish.
 *
 * @publicApi
 */
@Module({
  // No global module's forRoot() here: each such import registers the host's own handlers
  // again (ScheduleModule.forRoot() ran every @Interval of the app twice). Timers are our own.
  imports: [TerminusModule, DiscoveryModule],
  providers: [
    {
      provide: REALTIME_OPTIONS,
      useFactory: (options: RealtimeModuleOptions, jobsWired: boolean) => {
        const resolved = resolveRealtimeOptions(options);
        assertJobsWiring(resolved, jobsWired);
        if (resolved.jwt.secret === DEV_JWT_SECRET) {
          // The hardened profiles refuse it; a forgotten JWT_SECRET in development must be seen.
          new Logger('Realtime').warn(
            'jwt.secret is the development secret (DEV_JWT_SECRET), which anyone can sign tokens with: set jwt.secret before this app is reachable',
          );
        }
        return resolved;
      },
      inject: [REALTIME_MODULE_OPTIONS, REALTIME_JOBS_WIRED],
    },
    { provide: REALTIME_INSTANCE_ID, useFactory: randomUUID },
    {
      provide: REALTIME_ENGINE,
      useFactory: createEngine,
      inject: [REALTIME_OPTIONS, RedisConnections],
    },
    FixedWindowStorage,
    { provide: REALTIME_THROTTLER_STORAGE, useExisting: FixedWindowStorage },
    { provide: REALTIME_CONNECT_RATE_STORAGE, useClass: FixedWindowStorage },
    RedisConnections,
    RealtimeCounters,
    ConnectionRegistry,
    SubscriptionRegistry,
    TopicAccessService,
    SubscriptionRules,
    TokenService,
    RevocationService,
    { provide: REALTIME_REVOCATIONS, useExisting: RevocationService },
    SessionRules,
    MessageRateLimiter,
    admissionProvider,
    HandshakeService,
    SocketWriter,
    FanOutService,
    SubscriptionService,
    ...OFFLINE_PROVIDERS,
    OfflineDeliveryService,
    IDEMPOTENCY_PROVIDER,
    IdempotencyService,
    PRESENCE_STORE_PROVIDER,
    ...LIFECYCLE_PROVIDERS,
    RealtimeEvents,
    PresenceService,
    PresenceTracker,
    BroadcastService,
    SessionService,
    WsThrottlerGuard,
    WsAuthGuard,
    RealtimeExceptionFilter,
    RealtimeGateway,
    MessageDispatcher,
    RealtimeLifecycleService,
    HeartbeatScheduler,
    EngineLifecycle,
    RealtimeHealthIndicator,
    RealtimeMetricsService,
  ],
  exports: [
    REALTIME_OPTIONS,
    REALTIME_INSTANCE_ID,
    BroadcastService,
    IdempotencyService,
    PresenceService,
    RealtimeEvents,
    RevocationService,
    TokenService,
    RealtimeLifecycleService,
    RealtimeHealthIndicator,
    RealtimeMetricsService,
  ],
})
export class RealtimeModule extends ConfigurableRealtimeModule {}
