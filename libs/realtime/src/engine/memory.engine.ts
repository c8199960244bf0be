import { EpochClock, formatOffset, parseOffset } from './offset';
import type {
  EngineCommand,
  EngineMessage,
  EngineSink,
  EngineStats,
  RealtimeEngine,
  Recovery,
} from './realtime-engine.port';
import { TopicHistory } from './topic-history';

export interface MemoryEngineOptions {
  historySize: number;
  historyTtlMs: number;
  /** Topics whose history is kept at once; the least recently published is forgotten first. */
  maxHistoryTopics: number;
}

/**
 * One process, no network: publish hands the message to the sink
 * synchronously, so a publish has reached every local socket's write buffer
 * by the time its promise resolves.
 */
export class MemoryEngine implements RealtimeEngine {
  private readonly topics = new Map<string, TopicHistory>();
  /** Topics with local subscribers: their epoch must outlive an empty history. */
  private readonly watched = new Set<string>();
  private readonly epochs = new EpochClock();
  private sink: EngineSink | undefined;
  private published = 0;

  constructor(private readonly options: MemoryEngineOptions) {}

  attach(sink: EngineSink): void {
    this.sink = sink;
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
    history.append(message);
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

  private recoverNow(topic: string, since: string | undefined): Recovery {
    const now = Date.now();
    const history = this.historyFor(topic, now);
    history.dropOlderThan(now - this.options.historyTtlMs);
    const offset = formatOffset(history.epoch, history.sequence);
    if (since === undefined) return { offset, recovered: undefined, messages: [] };
    const position = parseOffset(since);
    const recoverable =
      position !== undefined &&
      position.epoch === history.epoch &&
      position.sequence <= history.sequence &&
      position.sequence >= history.firstSequence - 1;
    return recoverable
      ? { offset, recovered: true, messages: history.after(position.sequence) }
      : { offset, recovered: false, messages: [] };
  }

  watch(topic: string): void {
    this.watched.add(topic);
  }

  unwatch(topic: string): void {
    this.watched.delete(topic);
  }

  sweep(now: number): number {
    const cutoff = now - this.options.historyTtlMs;
    let forgotten = 0;
    for (const [topic, history] of this.topics) {
      history.dropOlderThan(cutoff);
      if (history.size === 0 && !this.watched.has(topic)) {
        this.topics.delete(topic);
        forgotten++;
      }
    }
    return forgotten;
  }

  stats(): EngineStats {
    let retainedMessages = 0;
    for (const history of this.topics.values()) retainedMessages += history.size;
    return {
      engine: 'memory',
      historyTopics: this.topics.size,
      retainedMessages,
      published: this.published,
    };
  }

  isHealthy(): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** Map order doubles as recency: a publish moves its topic to the end. */
  private historyFor(topic: string, now: number): TopicHistory {
    let history = this.topics.get(topic);
    if (history) {
      this.topics.delete(topic);
    } else {
      history = new TopicHistory(this.epochs.next(now), this.options.historySize);
      if (this.topics.size >= this.options.maxHistoryTopics) {
        this.topics.delete(this.topics.keys().next().value as string);
      }
    }
    this.topics.set(topic, history);
    return history;
  }
}
