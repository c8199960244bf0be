/** One call waiting for its turn's batch. */
export interface QueuedWrite<T, R> {
  readonly item: T;
  /** Bytes it adds to its batch's command (its JSON). */
  readonly bytes: number;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** Calls per command at most: a script call holds Redis while it runs. */
const MAX_WRITES = 200;
/** Bytes per command at most (one command's arguments are read whole before it runs). */
const MAX_BYTES = 512 * 1024;

function flushLater<T, R>(batch: TurnBatch<T, R>): void {
  batch.flush();
}

/**
 * The calls of one kind one instance makes in one event-loop turn (inbox
 * writes, engine commands), sent as one Redis command (several past the
 * bounds), in call order: a burst costs Redis one command per turn, not one
 * (or a job's dozen) per call. A lone call waits only for the end of its
 * turn. `send` resolves to one result per item, in order.
 */
export class TurnBatch<T, R> {
  private queued: QueuedWrite<T, R>[] = [];

  constructor(private readonly send: (items: readonly T[]) => Promise<R[]>) {}

  add(item: T, bytes: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.queued.push({ item, bytes, resolve, reject }) === 1) setImmediate(flushLater, this);
    });
  }

  /** The end of the turn (or a caller whose own command must follow these): sends what is queued. */
  flush(): void {
    if (this.queued.length === 0) return;
    const queued = this.queued;
    this.queued = [];
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < queued.length; i++) {
      bytes += queued[i].bytes;
      if (i + 1 - start === MAX_WRITES || bytes >= MAX_BYTES || i === queued.length - 1) {
        this.sendPart(queued.slice(start, i + 1));
        start = i + 1;
        bytes = 0;
      }
    }
  }

  private sendPart(part: readonly QueuedWrite<T, R>[]): void {
    // Runs at the end of a turn, outside any caller: a throw becomes every write's rejection.
    new Promise<R[]>((resolve) => resolve(this.send(part.map((write) => write.item)))).then(
      (results) => part.forEach((write, i) => write.resolve(results[i])),
      (error: unknown) => {
        for (const write of part) write.reject(error);
      },
    );
  }
}
