import { Logger } from '@nestjs/common';
import type { DeadLetter } from './offline-message';
import type { OfflineJobHandlers, OfflineScheduler, RetryPolicy } from './offline-scheduler.port';

/** Memory mode: one timer per pending hand-over retry; every timer is cleared by `close()`. */
export class MemoryOfflineScheduler implements OfflineScheduler {
  private readonly logger = new Logger('Realtime');
  private handlers: OfflineJobHandlers | undefined;
  private readonly retries = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly retry: RetryPolicy) {}

  start(handlers: OfflineJobHandlers): void {
    this.handlers = handlers;
  }

  handOver(letter: DeadLetter): Promise<void> {
    this.attempt(letter, 1);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
    return Promise.resolve();
  }

  /** Calls the handler; on failure tries again after backoffMs·2^(attempt-1), up to the attempts. */
  private attempt(letter: DeadLetter, attempt: number): void {
    if (this.closed || !this.handlers) return;
    this.handlers.handOver(letter).catch((error: unknown) => {
      if (attempt >= this.retry.attempts) {
        this.logger.error(
          `dead-letter handler failed ${attempt} times for ${letter.id}; giving up`,
          (error as Error)?.stack,
        );
        return;
      }
      if (this.closed) return;
      const timer = setTimeout(
        () => {
          this.retries.delete(timer);
          this.attempt(letter, attempt + 1);
        },
        this.retry.backoffMs * 2 ** (attempt - 1),
      );
      timer.unref();
      this.retries.add(timer);
    });
  }
}
