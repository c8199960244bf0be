/** Handshakes per script call at most: a script call holds Redis while it runs. */
const MAX_ITEMS = 200;

interface Queued<T, R> {
  readonly item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** Why a reservation was turned away without a call: its instance is shutting down. */
export class BatchClosedError extends Error {
  constructor() {
    super('admission is shutting down');
  }
}

/**
 * The reservations bound for one Redis node, sent at the end of their turn,
 * and never while an earlier call to it is unanswered: handshakes that
 * arrive meanwhile wait for its reply and leave together in the next call.
 * A loaded instance gets its handshakes spread over turns (about one per
 * turn), so a call per turn was a call per handshake, each with its own
 * write, read and script run on both sides; this way a storm costs one call
 * per round trip. A lone handshake still leaves at the end of its turn.
 *
 * Each call is bounded by its connection's command timeout, so a handshake
 * queued behind a call waits for Redis two timeouts at most. When the call
 * waited for fails, so do the handshakes behind it (their caller falls back
 * at once, without a call of its own). After close() nothing is sent: what
 * is queued, and what comes later, fails with BatchClosedError.
 */
export class RoundTripBatch<T, R> {
  private queued: Queued<T, R>[] = [];
  private inFlight = 0;
  /** The first failure among the calls in flight, for the handshakes queued behind them. */
  private failure: { error: unknown } | undefined;
  private scheduled = false;
  private closed = false;

  constructor(private readonly send: (items: readonly T[]) => Promise<R[]>) {}

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

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  /** The end of a turn, or of the calls in flight: sends what is queued, unless a call is out. */
  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.inFlight > 0 || this.queued.length === 0 || this.closed) return;
    const queued = this.queued;
    this.queued = [];
    for (let start = 0; start < queued.length; start += MAX_ITEMS) {
      this.sendPart(queued.slice(start, start + MAX_ITEMS));
    }
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
    // Redis just failed or timed out: the handshakes behind that call fall back now.
    if (failed) this.rejectQueued(failed.error);
    else if (this.queued.length > 0) this.schedule();
  }

  private rejectQueued(error: unknown): void {
    for (const q of this.queued.splice(0)) q.reject(error);
  }
}
