/** A `$user` message kept until its user acknowledges it or its TTL passes. */
export interface OfflineMessage {
  id: string;
  userId: string;
  type: string;
  payload: unknown;
  /** When it was sent, ms since the epoch (the `ts` of its `message` frame). */
  ts: number;
  /** When it expires unacknowledged, ms since the epoch. */
  expiresAt: number;
}

/**
 * A retained message that was never acknowledged: its TTL passed (`expired`),
 * or a full inbox made room for a newer one (`evicted`, with
 * `whenFull: 'dead-letter-oldest'`).
 *
 * @publicApi
 */
export interface DeadLetter extends OfflineMessage {
  reason: 'expired' | 'evicted';
  deadAt: number;
}

/**
 * Counts of retained messages (cluster-wide in Redis mode): waiting for an
 * acknowledgement, acknowledged (`delivered`), and dead-lettered.
 *
 * @publicApi
 */
export interface OfflineStats {
  pending: number;
  delivered: number;
  deadLettered: number;
}

/**
 * The application's hook for dead letters (e.g. send an email instead).
 * Provide it under `REALTIME_DEAD_LETTER_HANDLER` in any module of the app. A
 * handler that throws is called again with exponential backoff
 * (`offline.handlerAttempts`, `offline.handlerBackoffMs`); it should be
 * idempotent (keyed by `id`): a crash between its success and the record of
 * that success calls it again.
 *
 * @publicApi
 */
export interface DeadLetterHandler {
  handle(letter: DeadLetter): Promise<void> | void;
}

/** @publicApi */
export const REALTIME_DEAD_LETTER_HANDLER = Symbol('REALTIME_DEAD_LETTER_HANDLER');

/**
 * `sendToUser` with retention found the user's inbox full (and
 * `offline.whenFull` is `reject`), or the message alone is over its bounds.
 *
 * @publicApi
 */
export class OfflineInboxFullError extends Error {
  constructor(
    readonly userId: string,
    reason: string,
  ) {
    super(`offline inbox of user ${userId} is full: ${reason}`);
    this.name = 'OfflineInboxFullError';
  }
}
