import { Logger } from '@nestjs/common';
import { failureDetail } from '../../engine/engine-unavailable.error';
import type { DeadLetter } from './offline-message';
import type { OfflineStore } from './offline-store.port';

/** Messages one store call dead-letters at most (one script call in Redis: it holds Redis while it runs). */
export const SWEEP_BATCH = 500;
/** Store calls per sweep at most: a backlog past this waits for the next sweep. */
const SWEEP_CALLS = 20;

/** Where the sweeper's dead letters go (the hand-over to the application's handler). */
export type LetterSink = (letter: DeadLetter) => Promise<void>;

/**
 * Expiry without a job or timer per message: every `intervalMs` the store's
 * deadlines that passed are dead-lettered (`expireDue`) and handed over. In
 * Redis mode every instance sweeps; the store's script dead-letters each
 * message once, so an expiry happens while any instance is up. A message is
 * dead-lettered at most one interval (plus a sweep) after its TTL; it is
 * never delivered after its TTL meanwhile (the inbox read skips it). One
 * timer, re-armed after each sweep ends (sweeps never overlap), unref'd, and
 * cleared by `stop()`.
 */
export class ExpirySweeper {
  private readonly logger = new Logger('Realtime');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  /** Set by stop(): a sweep in progress ends after its current store call. */
  private closing = false;
  private failing = false;

  constructor(
    private readonly store: OfflineStore,
    private readonly intervalMs: number,
    private readonly deadLetterLimit: number,
    private readonly handOver: LetterSink,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.closing = false;
    this.arm();
  }

  /** Clears the timer and waits for a sweep in progress to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.closing = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One sweep now: resolves to how many messages it dead-lettered. */
  async sweep(now = Date.now()): Promise<number> {
    let total = 0;
    for (let call = 0; call < SWEEP_CALLS && !this.stoppedDuring(call); call++) {
      const letters = await this.store.expireDue(now, SWEEP_BATCH, this.deadLetterLimit);
      for (const letter of letters) {
        // Dead-lettered already (kept and counted): a failed hand-over must not stop the others.
        await this.handOver(letter).catch((error: unknown) =>
          this.logger.error(
            `hand-over of dead letter ${letter.id} failed: ${(error as Error)?.message}`,
          ),
        );
      }
      total += letters.length;
      if (letters.length < SWEEP_BATCH) break;
    }
    return total;
  }

  /** A stop ends a long sweep between two store calls (never inside one). */
  private stoppedDuring(call: number): boolean {
    return call > 0 && this.closing;
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.sweep().then(
        () => {
          if (this.failing) this.logger.log('offline expiry sweep: working again');
          this.failing = false;
        },
        (error: unknown) => {
          // Redis away: one warning per outage; the next sweep picks up what is due.
          if (!this.failing) {
            this.logger.warn(`offline expiry sweep failed: ${failureDetail(error)}`);
          }
          this.failing = true;
        },
      );
      void this.running.finally(() => {
        this.running = undefined;
        this.arm();
      });
    }, this.intervalMs);
    this.timer.unref();
  }
}
