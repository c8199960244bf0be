/** Handshakes per script call at most: a script call holds Redis while it runs. */
const MAX_ITEMS = 200;

interface Queued<T, R> {
  readonly item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

function flushLater<T, R>(batch: ReservationBatch<T, R>): void {
  batch.flush();
}

/**
 * The reservations of one Redis, sent at the end of their turn, and never
 * while an earlier call is unanswered: handshakes that arrive meanwhile wait
 * for its reply and leave together in the next call. A loaded instance gets
 * its handshakes spread over turns (about one per turn), so a call per turn
 * was a call per handshake, each with its own write, read and script run on
 * both sides; this way a storm costs one call per round trip. A lone
 * handshake still leaves at the end of its turn.
 *
 * A handshake waits for Redis `budgetMs` at most in all: a call sent after
 * waiting for another gets what is left of its budget (its items fail when
 * that runs out, as a command timeout fails them), and when the call waited
 * for fails, so do the handshakes behind it (the caller falls back at once).
 */
export class ReservationBatch<T, R> {
  private queued: Queued<T, R>[] = [];
  /** When the first handshake queued behind calls in flight arrived (0: none is). */
  private waitingSince = 0;
  private inFlight = 0;
  private failure: unknown = undefined;
  private scheduled = false;

  constructor(
    private readonly send: (items: readonly T[]) => Promise<R[]>,
    private readonly budgetMs: number,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      if (this.inFlight > 0) {
        if (this.waitingSince === 0) this.waitingSince = performance.now();
      } else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(flushLater, this);
      }
    });
  }

  /** The end of a turn, or of the calls in flight: sends what is queued, unless a call is out. */
  flush(): void {
    this.scheduled = false;
    if (this.inFlight > 0 || this.queued.length === 0) return;
    const queued = this.queued;
    const budgetMs =
      this.waitingSince === 0 ? undefined : this.budgetMs - (performance.now() - this.waitingSince);
    this.queued = [];
    this.waitingSince = 0;
    this.failure = undefined;
    for (let start = 0; start < queued.length; start += MAX_ITEMS) {
      this.sendPart(queued.slice(start, start + MAX_ITEMS), budgetMs);
    }
  }

  private sendPart(part: readonly Queued<T, R>[], budgetMs: number | undefined): void {
    this.inFlight++;
    // Runs at the end of a turn, outside any caller: a throw becomes every item's rejection.
    const reply = new Promise<R[]>((resolve) => resolve(this.send(part.map((q) => q.item))));
    reply.then(
      () => this.settled(),
      (error: unknown) => {
        this.failure = error;
        this.settled();
      },
    );
    const answer = budgetMs === undefined ? reply : withDeadline(reply, budgetMs);
    answer.then(
      (results) => part.forEach((q, i) => q.resolve(results[i])),
      (error: unknown) => {
        for (const q of part) q.reject(error);
      },
    );
  }

  private settled(): void {
    if (--this.inFlight > 0) return;
    const failure = this.failure;
    if (failure === undefined) {
      if (this.queued.length > 0 && !this.scheduled) {
        this.scheduled = true;
        setImmediate(flushLater, this);
      }
      return;
    }
    // Redis just failed or timed out: the handshakes behind that call fall back now.
    const queued = this.queued;
    this.queued = [];
    this.waitingSince = 0;
    this.failure = undefined;
    for (const q of queued) q.reject(failure);
  }
}

/** `reply`, or a rejection once `ms` have passed without it. */
export function withDeadline<R>(reply: Promise<R>, ms: number): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Redis did not answer within the handshake's budget`)),
      Math.max(ms, 0),
    );
    reply.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: Error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
