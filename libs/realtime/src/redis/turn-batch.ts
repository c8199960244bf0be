/** Calls per command at most: a script call holds Redis while it runs. */
const MAX_WRITES = 200;
/** Bytes per command at most (one command's arguments are read whole before it runs). */
const MAX_BYTES = 512 * 1024;

/**
 * What `send` gives for an item that failed on its own (the others of its
 * batch did not): that item's call rejects with `error`.
 */
export class ItemFailed {
  constructor(readonly error: unknown) {}
}

/** The calls of one command: their items, and how to settle each (by index). */
interface Part<T, R> {
  readonly items: T[];
  readonly resolves: Array<(result: R) => void>;
  readonly rejects: Array<(error: unknown) => void>;
  /** Bytes its items add to the command (their JSON). */
  bytes: number;
  /** The turn's next command, once this one reached a bound. */
  next: Part<T, R> | undefined;
}

function newPart<T, R>(): Part<T, R> {
  return { items: [], resolves: [], rejects: [], bytes: 0, next: undefined };
}

function flushLater<T, R>(batch: TurnBatch<T, R>): void {
  batch.flush();
}

/**
 * The calls of one kind one instance makes in one event-loop turn (inbox
 * writes, engine commands), sent as one Redis command (several past the
 * bounds), in call order: a burst costs Redis one command per turn, not one
 * (or a job's dozen) per call. A lone call waits only for the end of its
 * turn. `send` resolves to one result per item, in order (ItemFailed for one
 * that failed alone).
 *
 * A call costs a promise and three array slots: the commands are cut as the
 * calls arrive, and every call shares one promise executor (no closure or
 * record per call, no pass over a burst's calls at the end of the turn).
 */
export class TurnBatch<T, R> {
  /** This turn's commands so far; the last one takes the next call while under the bounds. */
  private first: Part<T, R> | undefined;
  private last: Part<T, R> | undefined;
  private resolveNext: ((result: R) => void) | undefined;
  private rejectNext: ((error: unknown) => void) | undefined;
  private readonly capture = (resolve: (result: R) => void, reject: (error: unknown) => void) => {
    this.resolveNext = resolve;
    this.rejectNext = reject;
  };

  constructor(private readonly send: (items: readonly T[]) => Promise<Array<R | ItemFailed>>) {}

  add(item: T, bytes: number): Promise<R> {
    let part = this.last;
    if (part === undefined) {
      part = this.first = this.last = newPart();
      setImmediate(flushLater, this);
    } else if (part.items.length === MAX_WRITES || part.bytes >= MAX_BYTES) {
      part = part.next = this.last = newPart();
    }
    const promise = new Promise<R>(this.capture);
    part.items.push(item);
    part.resolves.push(this.resolveNext!);
    part.rejects.push(this.rejectNext!);
    part.bytes += bytes;
    return promise;
  }

  /** The end of the turn (or a caller whose own command must follow these): sends what is queued. */
  flush(): void {
    let part = this.first;
    this.first = this.last = undefined;
    for (; part !== undefined; part = part.next) this.sendPart(part);
  }

  private sendPart({ items, resolves, rejects }: Part<T, R>): void {
    // Runs at the end of a turn, outside any caller: a throw becomes every write's rejection.
    new Promise<Array<R | ItemFailed>>((resolve) => resolve(this.send(items))).then(
      (results) => {
        for (let i = 0; i < resolves.length; i++) {
          const result = results[i];
          if (result instanceof ItemFailed) rejects[i](result.error);
          else resolves[i](result);
        }
      },
      (error: unknown) => {
        for (const reject of rejects) reject(error);
      },
    );
  }
}
