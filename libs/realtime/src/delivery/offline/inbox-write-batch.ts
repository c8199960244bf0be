/** One inbox write waiting for its turn's batch. */
export interface QueuedWrite<T, R> {
  readonly item: T;
  /** Bytes it adds to its batch's script call (its stored JSON). */
  readonly bytes: number;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** Writes per script call at most: a call holds Redis while it runs. */
const MAX_WRITES = 200;
/** Bytes per script call at most (one call's arguments are read whole before it runs). */
const MAX_BYTES = 512 * 1024;

function flushLater<T, R>(batch: InboxWriteBatch<T, R>): void {
  batch.flush();
}

/**
 * The inbox writes one instance makes in one event-loop turn, sent as one
 * script call (several past the bounds), in call order: a burst of
 * notifications costs Redis one command per turn, not one (or a job's dozen)
 * per message. A lone write waits only for the end of its turn. `send`
 * resolves to one result per item, in order.
 */
export class InboxWriteBatch<T, R> {
  private queued: QueuedWrite<T, R>[] = [];

  constructor(private readonly send: (items: readonly T[]) => Promise<R[]>) {}

  add(item: T, bytes: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.queued.push({ item, bytes, resolve, reject }) === 1) setImmediate(flushLater, this);
    });
  }

  /** @internal the end of the turn: sends what the turn queued. */
  flush(): void {
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
