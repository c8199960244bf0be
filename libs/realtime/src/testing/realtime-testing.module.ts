import { Global, Module } from '@nestjs/common';
import { BroadcastService } from '../delivery/broadcast.service';
import { RealtimeRecorder } from './realtime-recorder';

/**
 * Import instead of RealtimeModule to unit-test domain services: they get a
 * BroadcastService that records, and the test reads RealtimeRecorder.
 *
 * @publicApi
 */
@Global()
@Module({
  providers: [RealtimeRecorder, { provide: BroadcastService, useExisting: RealtimeRecorder }],
  exports: [RealtimeRecorder, BroadcastService],
})
export class RealtimeTestingModule {}
