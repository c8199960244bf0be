import type { RealtimeJobs } from '../../jobs/realtime-jobs.service';
import { BullOfflineScheduler } from './bull-offline.scheduler';

describe('BullOfflineScheduler', () => {
  it('close(timeoutMs) waits, with that bound, for the hand-overs running here (RealtimeJobs stops the workers)', async () => {
    let workersStopped!: () => void;
    const stop = jest.fn(() => new Promise<void>((resolve) => (workersStopped = resolve)));
    const scheduler = new BullOfflineScheduler({ stop } as unknown as RealtimeJobs, {
      attempts: 3,
      backoffMs: 100,
    });
    let closed = false;
    const closing = scheduler.close(1_234).then(() => (closed = true));
    expect(stop).toHaveBeenCalledWith(1_234);
    await Promise.resolve();
    expect(closed).toBe(false);
    workersStopped();
    await closing;
    expect(closed).toBe(true);
  });
});
