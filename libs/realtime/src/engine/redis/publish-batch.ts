/** One publish waiting for its batch. */
export interface QueuedPublish {
  readonly topic: string;
  /** JSON `[type, payload]`, as stored and published. */
  readonly data: string;
  resolve(reply: { offset: string; ts: number }): void;
  reject(error: unknown): void;
}

/** A batch's reply: Redis's time for all of it, and one offset per publish, in order. */
export type BatchReply = [ts: string, ...offsets: string[]];

/** Publishes per script call at most: a call holds Redis while it runs. */
const MAX_PUBLISHES = 200;
/** Message bytes per script call at most (one call's arguments are read whole before it runs). */
const MAX_BYTES = 512 * 1024;

function flushLater(batch: PublishBatch): void {
  batch.flush();
}

/**
 * The publishes one instance makes in one event-loop turn, sent as one
 * script call (several past the bounds), in call order. Redis then runs them
 * in one go and writes their messages to every subscribed instance as one
 * stream of bytes, so a burst reaches the instances in a few large reads
 * instead of one per handful of publishes, and each socket gets its frames
 * in a few writes. A lone publish waits only for the end of its turn.
 *
 * On Redis Cluster (`slotOf` given) a script may touch one slot only: the
 * turn's publishes are split per slot of their topic, one script call each
 * (a slot's publishes keep their call order, so each topic's do, and each
 * call is atomic for its topics).
 */
export class PublishBatch {
  private queued: QueuedPublish[] = [];

  constructor(
    private readonly send: (publishes: readonly QueuedPublish[]) => Promise<BatchReply>,
    private readonly slotOf?: (topic: string) => number,
  ) {}

  add(publish: QueuedPublish): void {
    if (this.queued.push(publish) === 1) setImmediate(flushLater, this);
  }

  /** @internal the end of the turn: sends what the turn queued. */
  flush(): void {
    const queued = this.queued;
    this.queued = [];
    if (!this.slotOf) {
      this.sendBounded(queued);
      return;
    }
    const perSlot = new Map<number, QueuedPublish[]>();
    for (const publish of queued) {
      const slot = this.slotOf(publish.topic);
      const group = perSlot.get(slot);
      if (group) group.push(publish);
      else perSlot.set(slot, [publish]);
    }
    for (const group of perSlot.values()) this.sendBounded(group);
  }

  /** Sends publishes in call order, one script call per MAX_PUBLISHES or MAX_BYTES. */
  private sendBounded(queued: readonly QueuedPublish[]): void {
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < queued.length; i++) {
      bytes += queued[i].data.length;
      if (i + 1 - start === MAX_PUBLISHES || bytes >= MAX_BYTES || i === queued.length - 1) {
        this.sendPart(queued.slice(start, i + 1));
        start = i + 1;
        bytes = 0;
      }
    }
  }

  private sendPart(part: readonly QueuedPublish[]): void {
    // Runs at the end of a turn, outside any caller: a throw becomes every publish's rejection.
    new Promise<BatchReply>((resolve) => resolve(this.send(part))).then(
      ([ts, ...offsets]) => {
        const at = Number(ts);
        part.forEach((publish, i) => publish.resolve({ offset: offsets[i], ts: at }));
      },
      (error: unknown) => {
        for (const publish of part) publish.reject(error);
      },
    );
  }
}
