import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { BroadcastService } from '../delivery/broadcast.service';
import type { Broadcaster } from '../delivery/broadcaster.interface';
import { RealtimeRecorder } from './realtime-recorder';
import { RealtimeTestingModule } from './realtime-testing.module';

/** Domain code that uses the whole of BroadcastService, as an operations dashboard would. */
@Injectable()
class Dashboard {
  constructor(private readonly realtime: BroadcastService) {}

  async report() {
    await this.realtime.publish('orders', 'order.created', { id: '1' });
    await this.realtime.sendToUser('42', 'notice', { text: 'hi' }, { ttlSeconds: 60 });
    await this.realtime.broadcast('maintenance', { at: 1 });
    await this.realtime.disconnectUser('43');
    return {
      stats: this.realtime.stats(),
      detailed: await this.realtime.detailedStats(),
      offline: await this.realtime.offlineStats(),
      deadLetters: await this.realtime.deadLetters(10),
    };
  }
}

describe('RealtimeTestingModule', () => {
  it('gives domain code a BroadcastService whose every method works, backed by the recorder', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RealtimeTestingModule],
      providers: [Dashboard],
    }).compile();
    const recorder = moduleRef.get(RealtimeRecorder);
    const letter = {
      id: 'm1',
      userId: '42',
      type: 'notice',
      payload: null,
      ts: 1,
      expiresAt: 2,
      reason: 'expired' as const,
      deadAt: 2,
    };
    recorder.deadLettered.push(letter);

    const report = await moduleRef.get(Dashboard).report();

    expect(moduleRef.get(BroadcastService)).toBe(recorder);
    expect(recorder.publishedTo('orders')).toHaveLength(1);
    expect(recorder.disconnectedUsers).toEqual([{ userId: '43', code: 4003 }]);
    expect(report.stats.counters).toEqual({ published: 1, broadcasts: 1 });
    expect(report.detailed.engine).toMatchObject({ engine: 'recorder', published: 1 });
    expect(report.offline).toEqual({ pending: 1, delivered: 0, deadLettered: 1 });
    expect(report.deadLetters).toEqual([letter]);
  });

  it('refuses what BroadcastService refuses: a close code the protocol does not use', async () => {
    const recorder = new RealtimeRecorder();
    await expect(recorder.disconnectUser('43', 1000 as never)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    expect(recorder.disconnectedUsers).toEqual([]);
  });

  it('is a Broadcaster, as BroadcastService is (the compiler checks both)', () => {
    const broadcaster: Broadcaster = new RealtimeRecorder();
    expect(typeof broadcaster.detailedStats).toBe('function');
  });
});
