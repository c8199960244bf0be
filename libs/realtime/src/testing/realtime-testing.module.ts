import { Global, Module, type Provider, type Type } from '@nestjs/common';
import { BroadcastService } from '../delivery/broadcast.service';
import { IdempotencyService } from '../delivery/idempotency/idempotency.service';
import { MemoryIdempotencyStore } from '../delivery/idempotency/memory-idempotency.store';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { MemoryPresenceStore } from '../presence/memory-presence.store';
import { PRESENCE_STORE } from '../presence/presence.constants';
import { PresenceService } from '../presence/presence.service';
import { RevocationService } from '../auth/revocation.service';
import { RealtimePresenceFixture } from './realtime-presence.fixture';
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

/**
 * Import instead of RealtimeModule to unit-test domain services: they get a
 * BroadcastService that records, and the test reads RealtimeRecorder; an
 * IdempotencyService that works as in memory mode; and the real
 * PresenceService over the memory store, counting the connections the test
 * opens with RealtimePresenceFixture; and a RevocationService that records
 * (RecordedRevocations).
 *
 * @publicApi
 */
@Global()
@Module({
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
  ],
  exports: [
    RealtimeRecorder,
    BroadcastService,
    IdempotencyService,
    PresenceService,
    RealtimePresenceFixture,
    RecordedRevocations,
    RevocationService,
  ],
})
export class RealtimeTestingModule {}
