import type Redis from 'ioredis';

/** A connection to watch, with its name for the log. */
export type WatchedLink = readonly [name: string, connection: Redis];

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
 * The connections are asked for at every round (`links`), so that those
 * which come and go (a cluster's node connections, its sharded subscribers)
 * are watched while they exist and forgotten once gone: no listener on
 * them, and a probe of one that went away ends at its deadline.
 */
export class LinkWatch {
  private timer: NodeJS.Timeout | undefined;
  /** Each connection's PING in flight, with its deadline. */
  private readonly probes = new Map<Redis, Probe>();

  constructor(
    private readonly links: () => Iterable<WatchedLink>,
    private readonly options: LinkWatchOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.probeAll(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const probe of this.probes.values()) clearTimeout(probe.deadline);
    this.probes.clear();
  }

  private probeAll(): void {
    for (const [name, connection] of this.links()) {
      if (connection.status === 'ready' && !this.probes.has(connection)) {
        this.probe(name, connection);
      }
    }
  }

  private probe(name: string, connection: Redis): void {
    const stream = connection.stream;
    const probe: Probe = { deadline: undefined };
    const arm = () => {
      probe.deadline = setTimeout(
        expire,
        this.options.timeoutMs,
        Date.now() + this.options.timeoutMs,
      );
      probe.deadline.unref();
    };
    const expire = (due: number) => {
      // A deadline that fired this late means this process stalled (a long GC, SIGSTOP), not the
      // link: the answer may be waiting unread in the socket. The link gets a whole timeout more.
      if (Date.now() - due > this.options.timeoutMs / 2) return arm();
      this.probes.delete(connection);
      // Dropped and reconnected meanwhile: the new link is another socket, not known dead.
      if (connection.stream !== stream || stream.destroyed) return;
      this.options.onDead(name);
      stream.destroy();
    };
    const answered = () => {
      // A PING resent after a reconnect may answer after a newer probe went out: not its answer.
      if (this.probes.get(connection) !== probe) return;
      clearTimeout(probe.deadline);
      this.probes.delete(connection);
    };
    this.probes.set(connection, probe);
    arm();
    // Only an answer counts: a PING that failed (its command timeout, a drop) leaves it to the
    // deadline, which spares a link that was replaced meanwhile.
    connection.ping().then(answered, () => undefined);
  }
}

interface Probe {
  deadline: NodeJS.Timeout | undefined;
}
