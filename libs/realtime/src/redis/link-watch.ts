import type Redis from 'ioredis';

export interface LinkWatchOptions {
  /** How often each watched connection that is ready gets a PING. */
  intervalMs: number;
  /** A PING not answered this long marks the link dead. */
  timeoutMs: number;
  /** Told (for the log) when a link was found dead and dropped. */
  onDead: (name: string) => void;
}

/**
 * Notices a connection that stays open but carries nothing any more: a
 * half-open TCP link (a peer or NAT that vanished without a FIN or RST, a
 * proxy that stopped relaying). No 'close' ever comes for such a link, so
 * ioredis never reconnects, and a subscriber on it misses every message in
 * silence. Each connection that is ready gets a PING every `intervalMs`; one
 * not answered within `timeoutMs` has its socket destroyed, and ioredis
 * reconnects as after any other drop. One PING at a time per connection.
 */
export class LinkWatch {
  private timer: NodeJS.Timeout | undefined;
  /** The deadline of each connection's PING in flight. */
  private readonly deadlines = new Map<Redis, NodeJS.Timeout>();

  constructor(
    private readonly links: ReadonlyArray<readonly [name: string, connection: Redis]>,
    private readonly options: LinkWatchOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.probeAll(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const deadline of this.deadlines.values()) clearTimeout(deadline);
    this.deadlines.clear();
  }

  private probeAll(): void {
    for (const [name, connection] of this.links) {
      if (connection.status === 'ready' && !this.deadlines.has(connection)) {
        this.probe(name, connection);
      }
    }
  }

  private probe(name: string, connection: Redis): void {
    const stream = connection.stream;
    const deadline = setTimeout(() => {
      this.deadlines.delete(connection);
      // Dropped and reconnected meanwhile: the new link is another socket, not known dead.
      if (connection.stream !== stream || stream.destroyed) return;
      this.options.onDead(name);
      stream.destroy();
    }, this.options.timeoutMs);
    deadline.unref();
    this.deadlines.set(connection, deadline);
    const answered = () => {
      clearTimeout(deadline);
      // A PING resent after a reconnect may answer after a newer one went out.
      if (this.deadlines.get(connection) === deadline) this.deadlines.delete(connection);
    };
    // Only an answer counts: a PING that failed (its command timeout, a drop) leaves it to the
    // deadline, which spares a link that was replaced meanwhile.
    connection.ping().then(answered, () => undefined);
  }
}
