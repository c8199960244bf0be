export { RealtimeModule } from './realtime.module';
export { REALTIME_ASYNC_OPTIONS_TYPE, REALTIME_OPTIONS_TYPE } from './realtime.module-definition';
export { DEV_JWT_SECRET, REALTIME_INSTANCE_ID, REALTIME_OPTIONS } from './realtime.constants';
export { EngineUnavailableError } from './engine/engine-unavailable.error';
export type {
  RealtimeModuleOptions,
  RealtimeProfile,
  RealtimeOfflineOptions,
  RealtimePresenceOptions,
  RealtimeEventsOptions,
  RealtimeJwtOptions,
  RealtimeJwtKey,
  JwtAlgorithm,
} from './options/realtime-module-options.interface';
export type { ResolvedRealtimeOptions } from './options/resolved-options';
export { resolveRealtimeOptions } from './options/resolve-options';
export { RealtimeOptionsError } from './options/validate-options';
export { RealtimeWsAdapter } from './gateway/realtime-ws.adapter';
export { RealtimeLifecycleService } from './gateway/realtime-lifecycle.service';
export { BroadcastService } from './delivery/broadcast.service';
export type {
  Broadcaster,
  PublishOptions,
  RealtimeStats,
  SendToUserOptions,
} from './delivery/broadcaster.interface';
export {
  type DeadLetter,
  type DeadLetterHandler,
  OfflineInboxFullError,
  type OfflineStats,
  REALTIME_DEAD_LETTER_HANDLER,
} from './delivery/offline/offline-message';
export type { EventMap, TopicOf, EventTypeOf, PayloadOf } from './protocol';
export { IdempotencyService } from './delivery/idempotency/idempotency.service';
export { PresenceService, type PresencePageRequest } from './presence/presence.service';
export { OnRealtimeEvent } from './presence/lifecycle/on-realtime-event.decorator';
export {
  RealtimeEvents,
  type RealtimeEventStats,
} from './presence/lifecycle/realtime-events.service';
export type {
  DeadLetteredEvent,
  DeadLetteredMessage,
  RealtimeEvent,
  RealtimeEventName,
  RealtimeEventPayloads,
} from './presence/lifecycle/realtime-event';
export {
  InvalidPresenceCursorError,
  type PresenceCounts,
  type PresenceMember,
  type PresencePage,
} from './presence/presence-store.port';
export { RevocationService } from './auth/revocation.service';
export { TokenRejectedError, TokenService } from './auth/token.service';
export type { Principal } from './auth/principal';
export type {
  NamespacePolicy,
  TopicAccessRequest,
  TopicAction,
  TopicAuthorizer,
  TopicRule,
} from './topics/topic-policy.interface';
export { RealtimeHealthIndicator } from './health/realtime.health';
export { RealtimeMetricsService } from './metrics/realtime-metrics.service';
export { RealtimeJobs, type JobRuns, type QueueCounts } from './jobs/realtime-jobs.service';
export { RealtimeTestingModule } from './testing/realtime-testing.module';
export { RealtimeRecorder, type RecordedPublish } from './testing/realtime-recorder';
export { RealtimePresenceFixture } from './testing/realtime-presence.fixture';
export { RealtimeEventsFixture } from './testing/realtime-events.fixture';
export { RealtimeTestTokens, type TestTokenClaims } from './testing/realtime-test-tokens';
export { RecordedRevocations, type RecordedRevocation } from './testing/recorded-revocations';
export {
  CloseCode,
  ErrorCode,
  RealtimeException,
  ClientEvent,
  ServerEvent,
  KEY_PATTERN,
  USER_ID_PATTERN,
  USER_ID_RULE,
} from './protocol';
export type {
  RealtimeEngine,
  EngineMessage,
  EngineCommand,
  EngineSink,
  EngineStats,
  Recovery,
} from './engine/realtime-engine.port';
