import { Logger } from '@nestjs/common';
import type { DeadLetter, OfflineMessage } from './offline-message';
import type { OfflineJobHandlers, OfflineScheduler, RetryPolicy } from './offline-scheduler.port';

/** setTimeout cannot wait longer than this; longer expiries re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Memory mode: one timer per retained message (bounded by the inbox bounds)
 * and one per pending retry; every timer is cleared by `close()`.
 */
export class MemoryOfflineScheduler implements OfflineScheduler {
  private readonly logger = new Logger('Realtime');
  private handlers: OfflineJobHandlers | undefined;
  private readonly expiries = new Map<string, NodeJS.Timeout>();
  private readonly retries = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly retry: RetryPolicy) {}

  start(handlers: OfflineJobHandlers): void {
    this.handlers = handlers;
  }

  scheduleExpiry(message: OfflineMessage): Promise<void> {
    this.arm(message.userId, message.id, message.expiresAt);
    return Promise.resolve();
  }

  cancelExpiry(ids: readonly string[]): void {
    for (const id of ids) {
      clearTimeout(this.expiries.get(id));
      this.expiries.delete(id);
    }
  }

  handOver(letter: DeadLetter): Promise<void> {
    this.attempt(letter, 1);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    for (const timer of this.expiries.values()) clearTimeout(timer);
    for (const timer of this.retries) clearTimeout(timer);
    this.expiries.clear();
    this.retries.clear();
    return Promise.resolve();
  }

  private arm(userId: string, id: string, expiresAt: number): void {
    if (this.closed) return;
    const delay = Math.min(Math.max(0, expiresAt - Date.now()), MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.expiries.delete(id);
      if (expiresAt > Date.now()) return this.arm(userId, id, expiresAt);
      this.handlers?.expire(userId, id).catch((error: unknown) => {
        this.logger.error(`offline expiry of ${id} failed`, (error as Error)?.stack);
      });
    }, delay);
    timer.unref();
    this.expiries.set(id, timer);
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
