import { Global, Module } from '@nestjs/common';
import { BroadcastService } from '../delivery/broadcast.service';
import { IdempotencyService } from '../delivery/idempotency/idempotency.service';
import { MemoryIdempotencyStore } from '../delivery/idempotency/memory-idempotency.store';
import { resolveRealtimeOptions } from '../options/resolve-options';
import { RealtimeRecorder } from './realtime-recorder';

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
    { provide: BroadcastService, useExisting: RealtimeRecorder },
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
