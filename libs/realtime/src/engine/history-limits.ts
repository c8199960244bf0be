/** How much of one topic's history is kept. */
export interface HistoryLimits {
  /** Messages kept. */
  size: number;
  /** Bytes kept (each message's encoded frame); the oldest go first. */
  maxBytes: number;
  /** How long a message stays recoverable. */
  ttlMs: number;
}

export interface EngineHistoryOptions {
  /** The limits of every topic whose namespace has none of its own. */
  history: HistoryLimits;
  /** Per namespace (the topic up to its first `:`), laid over `history`. */
  namespaces?: Readonly<Record<string, Partial<HistoryLimits>>>;
  /** Topics whose history is kept at once; the least recently published is forgotten first. */
  maxHistoryTopics: number;
  /**
   * Bytes of history across all topics, bookkeeping included (memory engine;
   * Redis bounds its memory with its own settings, see docs/scaling.md).
   * Past it the least recently published topics lose their oldest messages.
   */
  maxTotalBytes?: number;
}

/** Resolves a topic's limits, once per namespace. */
export class HistoryLimitsResolver {
  private readonly resolved = new Map<string, HistoryLimits>();

  constructor(private readonly options: EngineHistoryOptions) {}

  of(topic: string): HistoryLimits {
    const colon = topic.indexOf(':');
    const namespace = colon === -1 ? topic : topic.slice(0, colon);
    const own = this.options.namespaces;
    // Own keys only: a topic named `constructor` is not a namespace with limits.
    if (own === undefined || !Object.hasOwn(own, namespace)) return this.options.history;
    let limits = this.resolved.get(namespace);
    if (!limits) {
      limits = { ...this.options.history, ...own[namespace] };
      this.resolved.set(namespace, limits);
    }
    return limits;
  }

  /** The shortest TTL of any topic. */
  get shortestTtlMs(): number {
    return Math.min(...this.ttls());
  }

  /** The longest TTL of any topic. */
  get longestTtlMs(): number {
    return Math.max(...this.ttls());
  }

  private ttls(): number[] {
    const own = Object.values(this.options.namespaces ?? {}).map((limits) => limits.ttlMs);
    return [this.options.history.ttlMs, ...own.filter((ttl) => ttl !== undefined)];
  }
}
