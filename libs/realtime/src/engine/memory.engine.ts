import { type EngineHistoryOptions, HistoryLimitsResolver } from './history-limits';
import { EpochClock, formatOffset, isAfterOffset, parseOffset } from './offset';
import type {
  EngineCommand,
  EngineMessage,
  EngineSink,
  EngineStats,
  RealtimeEngine,
  Recovery,
} from './realtime-engine.port';
import { TopicHistory } from './topic-history';

export interface MemoryEngineOptions extends EngineHistoryOptions {
  /** How often expired history is dropped. */
  sweepIntervalMs?: number;
}

const DEFAULT_SWEEP_INTERVAL_MS = 30_000;

/** Where a topic without retained history stands: its epoch and last sequence. */
interface Head {
  epoch: number;
  sequence: number;
}

/**
 * One process, no network: publish hands the message to the sink
 * synchronously, so a publish has reached every local socket's write buffer
 * by the time its promise resolves. History is created by the first publish,
 * never by a subscribe, so subscribing to topics nobody publishes to cannot
 * push out the history of topics that have it.
 */
export class MemoryEngine implements RealtimeEngine {
  readonly name = 'memory';
  /** Topics with history; map order doubles as recency (a publish moves its topic to the end). */
  private readonly histories = new Map<string, TopicHistory>();
  /** Watched topics without history: their epoch must outlive an empty history. */
  private readonly idle = new Map<string, Head>();
  private readonly watched = new Set<string>();
  private readonly epochs = new EpochClock();
  private readonly limits: HistoryLimitsResolver;
  private sink: EngineSink | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private published = 0;

  constructor(private readonly options: MemoryEngineOptions) {
    this.limits = new HistoryLimitsResolver(options);
  }

  attach(sink: EngineSink): void {
    this.sink = sink;
  }

  start(): Promise<void> {
    this.sweeper ??= setInterval(
      () => this.sweep(Date.now()),
      this.options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS,
    );
    this.sweeper.unref();
    return Promise.resolve();
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    return Promise.resolve();
  }

  publish(topic: string, type: string, payload: unknown): Promise<EngineMessage> {
    const ts = Date.now();
    const history = this.historyFor(topic, ts);
    const message: EngineMessage = {
      topic,
      type,
      payload,
      offset: formatOffset(history.epoch, ++history.sequence),
      ts,
    };
    history.append(message, messageBytes(type, payload));
    this.published++;
    this.sink?.deliver(message);
    return Promise.resolve(message);
  }

  command(command: EngineCommand): Promise<void> {
    this.sink?.execute(command);
    return Promise.resolve();
  }

  recover(topic: string, since: string | undefined): Promise<Recovery> {
    return Promise.resolve(this.recoverNow(topic, since));
  }

  watch(topic: string): Promise<void> {
    this.watched.add(topic);
    return Promise.resolve();
  }

  unwatch(topic: string): Promise<void> {
    this.watched.delete(topic);
    this.idle.delete(topic);
    return Promise.resolve();
  }

  isAfter(offset: string, head: string): boolean {
    return isAfterOffset(offset, head);
  }

  /** Drops expired history; a watched topic keeps its epoch. Returns how many topics lost their history. */
  sweep(now: number): number {
    let forgotten = 0;
    for (const [topic, history] of this.histories) {
      history.dropOlderThan(now - history.ttlMs);
      if (history.size > 0) continue;
      this.histories.delete(topic);
      if (this.watched.has(topic)) {
        this.idle.set(topic, { epoch: history.epoch, sequence: history.sequence });
      }
      forgotten++;
    }
    return forgotten;
  }

  stats(): Promise<EngineStats> {
    let retainedMessages = 0;
    for (const history of this.histories.values()) retainedMessages += history.size;
    return Promise.resolve({
      engine: this.name,
      state: 'up',
      historyTopics: this.histories.size,
      watchedTopics: this.watched.size,
      published: this.published,
      received: this.published,
      retainedMessages,
    });
  }

  isHealthy(): Promise<boolean> {
    return Promise.resolve(true);
  }

  private recoverNow(topic: string, since: string | undefined): Recovery {
    const now = Date.now();
    const history = this.histories.get(topic);
    if (history) history.dropOlderThan(now - history.ttlMs);
    const head: Head = history ?? this.headOf(topic, now);
    const offset = formatOffset(head.epoch, head.sequence);
    if (since === undefined) return { offset, recovered: undefined, messages: [] };
    const position = parseOffset(since);
    const firstSequence = history?.firstSequence ?? head.sequence + 1;
    const recoverable =
      position !== undefined &&
      position.epoch === head.epoch &&
      position.sequence <= head.sequence &&
      position.sequence >= firstSequence - 1;
    if (!recoverable) return { offset, recovered: false, messages: [] };
    return { offset, recovered: true, messages: history?.after(position.sequence) ?? [] };
  }

  /** The head of a topic without history: kept while watched, made up (and forgotten) otherwise. */
  private headOf(topic: string, now: number): Head {
    const known = this.idle.get(topic);
    if (known) return known;
    const head = { epoch: this.epochs.next(now), sequence: 0 };
    if (this.watched.has(topic)) this.idle.set(topic, head);
    return head;
  }

  private historyFor(topic: string, now: number): TopicHistory {
    let history = this.histories.get(topic);
    if (history) {
      this.histories.delete(topic);
    } else {
      const head = this.idle.get(topic) ?? { epoch: this.epochs.next(now), sequence: 0 };
      this.idle.delete(topic);
      history = new TopicHistory(head.epoch, head.sequence, this.limits.of(topic));
      if (this.histories.size >= this.options.maxHistoryTopics) {
        this.histories.delete(this.histories.keys().next().value as string);
      }
    }
    this.histories.set(topic, history);
    return history;
  }
}

/** What a message costs in history: the JSON of its type and payload, in bytes. */
export function messageBytes(type: string, payload: unknown): number {
  return Buffer.byteLength(type) + Buffer.byteLength(JSON.stringify(payload) ?? '');
}
