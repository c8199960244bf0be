import { Global, Module, type Provider, type Type } from '@nestjs/common';
import { BroadcastService } from '../delivery/broadcast.service';
import { IdempotencyService } from '../delivery/idempotency/idempotency.service';
import { MemoryIdempotencyStore } from '../delivery/idempotency/memory-idempotency.store';
import { resolveRealtimeOptions } from '../options/resolve-options';
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

/**
 * Import instead of RealtimeModule to unit-test domain services: they get a
 * BroadcastService that records, and the test reads RealtimeRecorder; and an
 * IdempotencyService that works as in memory mode.
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
  ],
  exports: [RealtimeRecorder, BroadcastService, IdempotencyService],
})
export class RealtimeTestingModule {}
