import { Logger } from '@nestjs/common';
import type { RealtimeJobs } from '../../jobs/realtime-jobs.service';
import { BullLifecycleDispatcher, type EventRunner } from './lifecycle-dispatcher';
import type { RealtimeEvent } from './realtime-event';

const offline = (userId: string): RealtimeEvent => ({
  id: userId,
  name: 'user.offline',
  at: 0,
  data: { userId, lastSeen: 0 },
});

describe('BullLifecycleDispatcher shutdown', () => {
  let answer: () => void;
  let add: jest.Mock;
  let dispatcher: BullLifecycleDispatcher;

  beforeEach(() => {
    jest.useFakeTimers();
    add = jest.fn(() => new Promise<void>((resolve) => (answer = resolve)));
    dispatcher = new BullLifecycleDispatcher(
      { add } as unknown as RealtimeJobs,
      {} as EventRunner,
      { windowMs: 200, maxEvents: 40 },
    );
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('close() queues what the window gathered and resolves only once the add is answered', async () => {
    dispatcher.dispatch(offline('ghost'));
    let closed = false;
    const closing = dispatcher.close(5_000).then(() => (closed = true));
    expect(add).toHaveBeenCalledWith('realtime-events', 'deliver', { events: [offline('ghost')] });
    await jest.advanceTimersByTimeAsync(0);
    // The queues close after this: not before the add reached Redis.
    expect(closed).toBe(false);
    answer();
    await closing;
    expect(jest.getTimerCount()).toBe(0);
  });

  it('close() waits for the add at most its timeout', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    dispatcher.dispatch(offline('ghost'));
    let closed = false;
    void dispatcher.close(1_000).then(() => (closed = true));
    await jest.advanceTimersByTimeAsync(999);
    expect(closed).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(closed).toBe(true);
  });

  it('events after close() are not queued (nothing is left to close the queue after them)', async () => {
    await dispatcher.close(1_000);
    dispatcher.dispatch(offline('late'));
    await jest.advanceTimersByTimeAsync(1_000);
    expect(add).not.toHaveBeenCalled();
  });
});
