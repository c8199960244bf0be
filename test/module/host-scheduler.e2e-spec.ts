import { Injectable } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { LibraryApp } from '../support/library-app';
import { waitUntil } from '../support/waits';

/** A period no other timer of the app uses, to tell the host job's interval apart. */
const TICK_MS = 97;

@Injectable()
class HostJob {
  runs = 0;

  @Interval(TICK_MS)
  tick(): void {
    this.runs++;
  }
}

/**
 * A library must not import another global module's forRoot(): each import
 * is one more explorer that registers every @Interval/@Cron of the host again.
 */
describe('RealtimeModule in a host app with its own scheduler', () => {
  let host: LibraryApp;
  /** The intervals armed with the host job's period while the app started. */
  let armed: number;

  beforeAll(async () => {
    const setInterval = jest.spyOn(global, 'setInterval');
    try {
      host = await LibraryApp.start({
        realtime: {},
        imports: [ScheduleModule.forRoot()],
        providers: [HostJob],
      });
      armed = setInterval.mock.calls.filter(([, ms]) => ms === TICK_MS).length;
    } finally {
      setInterval.mockRestore();
    }
  });

  afterAll(() => host.stop());

  it("arms the host's @Interval job once, and it runs", async () => {
    // Counted, not timed: a second registration would arm a second interval.
    expect(armed).toBe(1);
    const job = host.app.get(HostJob);
    await waitUntil(() => job.runs >= 2, 5_000, 'the host job to run');
  });
});
