/** Items per call at most: a script call holds Redis while it runs. */
const MAX_ITEMS = 200;

interface Queued<T, R> {
  readonly item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** Why an item was turned away without a call: its batch was closed (shutdown). */
export class BatchClosedError extends Error {
  constructor() {
    super('the batch is closed: shutting down');
  }
}

/** What the items queued behind a failed call do. */
export type QueuedOnFailure =
  /** Fail with it, without a call of their own (their caller falls back at once: admission). */
  | 'fail'
  /** Leave in the next call: a call fails only what it carried (presence, inbox reads). */
  | 'send';

export interface RoundTripBatchOptions {
  /** Default 'fail'. */
  queuedOnFailure?: QueuedOnFailure;
  /**
   * A batch on the same connection whose queued items must reach Redis
   * before this one's (a connection's presence write before its inbox
   * read): a call of this batch waits while that one has items queued, and
   * leaves right after that one's next call is sent.
   */
  follows?: () => BatchAhead | undefined;
}

/** What a batch that follows another needs of it (RoundTripBatch is one). */
export interface BatchAhead {
  /** Items added and not yet handed to a call. */
  readonly waiting: number;
  /** Calls `callback` once the items queued now have left in a call (or failed). */
  whenSent(callback: () => void): void;
}

/**
 * The items (handshakes' calls) bound for one Redis node, sent at the end
 * of their turn, and never while an earlier call of this batch is
 * unanswered: items that arrive meanwhile wait for its reply and leave
 * together in the next call. A loaded instance gets its handshakes spread
 * over turns (about one per turn), so a call per turn was a call per
 * handshake, each with its own write, read and script run on both sides;
 * this way a storm costs one call per round trip. A lone item still leaves
 * at the end of its turn. `send` resolves to one result per item, in order;
 * items leave in the order they were added (past MAX_ITEMS, in several
 * calls sent together, in order).
 *
 * Each call is bounded by its connection's command timeout, so an item
 * queued behind a call waits for Redis two timeouts at most. When the call
 * waited for fails, the items behind it fail too (`queuedOnFailure:
 * 'fail'`, the default: their caller falls back at once, without a call of
 * their own) or leave in the next call ('send'). After close() nothing is
 * sent: what is queued, and what comes later, fails with BatchClosedError.
 */
export class RoundTripBatch<T, R> implements BatchAhead {
  private queued: Queued<T, R>[] = [];
  private inFlight = 0;
  /** The first failure among the calls in flight, for the items queued behind them. */
  private failure: { error: unknown } | undefined;
  private scheduled = false;
  private closed = false;
  /** Told once this batch's queued items have left (or failed): batches that follow it. */
  private afterSend: Array<() => void> = [];
  /** Told once nothing is queued or in flight (idle()). */
  private whenIdle: Array<() => void> = [];
  private readonly failQueued: boolean;
  private readonly follows: RoundTripBatchOptions['follows'];

  constructor(
    private readonly send: (items: readonly T[]) => Promise<R[]>,
    options: RoundTripBatchOptions = {},
  ) {
    this.failQueued = (options.queuedOnFailure ?? 'fail') === 'fail';
    this.follows = options.follows;
  }

  /** Items added and not yet handed to a call. */
  get waiting(): number {
    return this.queued.length;
  }

  whenSent(callback: () => void): void {
    if (this.queued.length === 0) callback();
    else this.afterSend.push(callback);
  }

  add(item: T): Promise<R> {
    if (this.closed) return Promise.reject(new BatchClosedError());
    return new Promise<R>((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      if (this.inFlight === 0) this.schedule();
    });
  }

  /** At shutdown: fails what is queued and what comes later; calls in flight are answered. */
  close(): void {
    this.closed = true;
    this.rejectQueued(new BatchClosedError());
  }

  /**
   * Resolves once nothing is queued or in flight (every call answered or
   * failed): before its connection closes, so that what shutdown queued
   * (its connections' closes) still reaches Redis.
   */
  idle(): Promise<void> {
    if (this.inFlight === 0 && this.queued.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.whenIdle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  /** The end of a turn, or of the calls in flight: sends what is queued, unless a call is out. */
  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.inFlight > 0 || this.queued.length === 0 || this.closed) return;
    const first = this.follows?.();
    if (first !== undefined && first.waiting > 0) {
      // Sent right after that batch's queued items, in the same turn (one connection: in order).
      this.scheduled = true;
      first.whenSent(this.flush);
      return;
    }
    const queued = this.queued;
    this.queued = [];
    for (let start = 0; start < queued.length; start += MAX_ITEMS) {
      this.sendPart(queued.slice(start, start + MAX_ITEMS));
    }
    this.sent();
  };

  private sendPart(part: readonly Queued<T, R>[]): void {
    this.inFlight++;
    // Runs at the end of a turn, outside any caller: a throw becomes every item's rejection.
    new Promise<R[]>((resolve) => resolve(this.send(part.map((q) => q.item)))).then(
      (results) => {
        part.forEach((q, i) => q.resolve(results[i]));
        this.settled(undefined);
      },
      (error: unknown) => {
        for (const q of part) q.reject(error);
        this.settled({ error });
      },
    );
  }

  private settled(failure: { error: unknown } | undefined): void {
    this.failure ??= failure;
    if (--this.inFlight > 0) return;
    const failed = this.failure;
    this.failure = undefined;
    // Redis just failed or timed out: the items behind that call fall back now (or try again).
    if (failed && this.failQueued) this.rejectQueued(failed.error);
    else if (this.queued.length > 0) this.schedule();
    if (this.queued.length === 0) {
      for (const resolve of this.whenIdle.splice(0)) resolve();
    }
  }

  private rejectQueued(error: unknown): void {
    for (const q of this.queued.splice(0)) q.reject(error);
    this.sent();
    if (this.inFlight === 0) {
      for (const resolve of this.whenIdle.splice(0)) resolve();
    }
  }

  /** The queued items have left (or failed): the batches that follow this one may send now. */
  private sent(): void {
    if (this.afterSend.length === 0) return;
    for (const flush of this.afterSend.splice(0)) flush();
  }
}
