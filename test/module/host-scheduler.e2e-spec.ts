import { Injectable } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { LibraryApp } from '../support/library-app';

const TICK_MS = 100;
const OBSERVE_MS = 1_050;

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

  beforeAll(async () => {
    host = await LibraryApp.start({
      realtime: {},
      imports: [ScheduleModule.forRoot()],
      providers: [HostJob],
    });
  });

  afterAll(() => host.stop());

  it("runs the host's @Interval job once per tick", async () => {
    const job = host.app.get(HostJob);
    const from = job.runs;
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, OBSERVE_MS));
    const ticks = Math.floor((Date.now() - started) / TICK_MS);
    const runs = job.runs - from;
    expect(runs).toBeGreaterThanOrEqual(ticks - 2);
    expect(runs).toBeLessThanOrEqual(ticks + 1);
  });
});
