import { Global, Module, type Provider, type Type } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { TokenService } from '../auth/token.service';
import { BroadcastService } from '../delivery/broadcast.service';
import { IdempotencyService } from '../delivery/idempotency/idempotency.service';
import { MemoryIdempotencyStore } from '../delivery/idempotency/memory-idempotency.store';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { MemoryPresenceStore } from '../presence/memory-presence.store';
import { PRESENCE_STORE } from '../presence/presence.constants';
import { PresenceService } from '../presence/presence.service';
import { MemoryEventDeadLetterStore } from '../presence/lifecycle/event-dead-letter.store';
import { EventRunner, MemoryLifecycleDispatcher } from '../presence/lifecycle/lifecycle-dispatcher';
import { LifecycleHandlers } from '../presence/lifecycle/lifecycle-handlers';
import {
  EVENT_DEAD_LETTERS,
  LIFECYCLE_DISPATCHER,
} from '../presence/lifecycle/lifecycle.constants';
import { RealtimeEvents } from '../presence/lifecycle/realtime-events.service';
import { RevocationService } from '../auth/revocation.service';
import { RealtimeEventsFixture } from './realtime-events.fixture';
import { RealtimePresenceFixture } from './realtime-presence.fixture';
import { RealtimeTestTokens } from './realtime-test-tokens';
import { RecordedRevocations } from './recorded-revocations';
import { RealtimeRecorder } from './realtime-recorder';

/**
 * Binds `existing` where `token` is injected. It compiles only when the stand-in
 * has every public member of the token's class, with the same types: nothing
 * domain code can call on the real service is missing from its test double.
 */
function standIn<T>(
  token: abstract new (...args: never[]) => T,
  existing: Type<{ [K in keyof NoInfer<T>]: NoInfer<T>[K] }>,
): Provider {
  return { provide: token, useExisting: existing };
}

/** Presence changes a topic's log keeps (read by `presence_diff`, which no unit test sends). */
const PRESENCE_LOG_ENTRIES = 256;

/** Lifecycle events as in memory mode: the app's handlers found, called in this process. */
const EVENT_PROVIDERS: Provider[] = [
  LifecycleHandlers,
  { provide: EVENT_DEAD_LETTERS, useFactory: () => new MemoryEventDeadLetterStore() },
  {
    provide: EventRunner,
    inject: [LifecycleHandlers, EVENT_DEAD_LETTERS],
    useFactory: (handlers: LifecycleHandlers, deadLetters: MemoryEventDeadLetterStore) =>
      new EventRunner(handlers, deadLetters, resolveRealtimeOptions().events),
  },
  {
    provide: LIFECYCLE_DISPATCHER,
    inject: [EventRunner],
    useFactory: (runner: EventRunner) => new MemoryLifecycleDispatcher(runner),
  },
  {
    provide: RealtimeEvents,
    inject: [LifecycleHandlers, LIFECYCLE_DISPATCHER, EVENT_DEAD_LETTERS],
    useFactory: (
      handlers: LifecycleHandlers,
      dispatcher: MemoryLifecycleDispatcher,
      deadLetters: MemoryEventDeadLetterStore,
    ) => new RealtimeEvents(handlers, dispatcher, deadLetters, resolveRealtimeOptions()),
  },
  RealtimeEventsFixture,
];

/**
 * Import instead of RealtimeModule to unit-test domain services: they get a
 * BroadcastService that records, and the test reads RealtimeRecorder; an
 * IdempotencyService that works as in memory mode; and the real
 * PresenceService over the memory store, counting the connections the test
 * opens with RealtimePresenceFixture; and a RevocationService that records
 * (RecordedRevocations). TokenService is the real one, accepting the
 * tokens RealtimeTestTokens signs; RealtimeEvents is the real one, in this
 * process, and RealtimeEventsFixture delivers events to the app's
 * `@OnRealtimeEvent` handlers.
 *
 * @publicApi
 */
@Global()
@Module({
  // The app's @OnRealtimeEvent handlers are found as RealtimeModule finds them.
  imports: [DiscoveryModule],
  providers: [
    RealtimeRecorder,
    standIn(BroadcastService, RealtimeRecorder),
    {
      provide: IdempotencyService,
      useFactory: () => {
        const options = resolveRealtimeOptions();
        return new IdempotencyService(
          new MemoryIdempotencyStore(options.idempotency.maxKeys),
          options,
        );
      },
    },
    { provide: PRESENCE_STORE, useFactory: () => new MemoryPresenceStore(PRESENCE_LOG_ENTRIES) },
    PresenceService,
    RealtimePresenceFixture,
    RecordedRevocations,
    standIn(RevocationService, RecordedRevocations),
    RealtimeTestTokens,
    {
      provide: TokenService,
      inject: [RealtimeTestTokens],
      useFactory: (tokens: RealtimeTestTokens) =>
        new TokenService(resolveRealtimeOptions({ jwt: { secret: tokens.secret } })),
    },
    ...EVENT_PROVIDERS,
  ],
  exports: [
    RealtimeRecorder,
    BroadcastService,
    IdempotencyService,
    PresenceService,
    RealtimePresenceFixture,
    RecordedRevocations,
    RevocationService,
    RealtimeTestTokens,
    TokenService,
    RealtimeEvents,
    RealtimeEventsFixture,
  ],
})
export class RealtimeTestingModule {}
