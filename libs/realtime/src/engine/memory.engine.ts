import { encodeSerializedMessage, payloadJson, payloadText } from '../framing/message-frame';
import { SerializedJson } from '../framing/serialized-json';
import { type EngineHistoryOptions, HistoryLimitsResolver } from './history-limits';
import { EpochClock, formatOffset, isAfterOffset, parseOffset } from './offset';
import type {
  EngineCommand,
  EngineMessage,
  EngineSink,
  EngineStats,
  PublishedMessage,
  RealtimeEngine,
  Recovery,
} from './realtime-engine.port';
import { TopicHistory } from './topic-history';

export interface MemoryEngineOptions extends EngineHistoryOptions {
  /** How often expired history is dropped. */
  sweepIntervalMs?: number;
}

const DEFAULT_SWEEP_INTERVAL_MS = 30_000;
/**
 * What a retained message costs besides its frame's bytes: the buffer's own
 * objects (about 450 bytes for a buffer outside Node's pool, measured), the
 * message and frame objects and the offset string.
 */
export const MESSAGE_OVERHEAD_BYTES = 512;

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
 * push out the history of topics that have it. History keeps each message as
 * the frame the sockets got, and all of it together stays under
 * `maxTotalBytes`: past it, the least recently published topics lose their
 * oldest messages first.
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
  /** Frames and bookkeeping of every topic's history (`costOf`), bounded by `maxTotalBytes`. */
  private retainedBytes = 0;
  private readonly maxTotalBytes: number;

  constructor(private readonly options: MemoryEngineOptions) {
    this.limits = new HistoryLimitsResolver(options);
    this.maxTotalBytes = options.maxTotalBytes ?? Infinity;
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

  publish(topic: string, type: string, payload: unknown): Promise<PublishedMessage> {
    // Serialized before anything changes: a payload JSON cannot carry takes no offset, evicts no history.
    const json = payload instanceof SerializedJson ? payload.bytes : payloadJson(payload);
    const ts = Date.now();
    const history = this.historyFor(topic, ts);
    const offset = formatOffset(history.epoch, ++history.sequence);
    const message: EngineMessage = {
      topic,
      offset,
      ts,
      frame: encodeSerializedMessage(topic, JSON.stringify(type), json, offset, ts),
    };
    this.change(history, () => history.append(message));
    this.keepUnderTotal();
    this.published++;
    this.sink?.deliver(message);
    return Promise.resolve({ topic, offset, ts });
  }

  command(command: EngineCommand): Promise<void> {
    // The sink builds a user's frame only where the user is: checked here, a payload JSON cannot
    // carry fails for an absent user too, as the Redis engine's serialization fails it. (Here, not
    // in the sink: in Redis mode every instance's sink gets every command, already JSON.)
    if (command.kind === 'user') payloadText(command.payload);
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
      this.change(history, () => history.dropOlderThan(now - history.ttlMs));
      if (history.size > 0) continue;
      this.forget(topic, history);
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
      retainedBytes: this.retainedBytes,
      maxRetainedBytes: this.maxTotalBytes,
    });
  }

  isHealthy(): Promise<boolean> {
    return Promise.resolve(true);
  }

  private recoverNow(topic: string, since: string | undefined): Recovery {
    const now = Date.now();
    const history = this.histories.get(topic);
    if (history) this.change(history, () => history.dropOlderThan(now - history.ttlMs));
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

  /** Applies a change to one topic's history and keeps the total in step. */
  private change(history: TopicHistory, apply: () => void): void {
    const before = costOf(history);
    apply();
    this.retainedBytes += costOf(history) - before;
  }

  /** Past `maxTotalBytes`, the least recently published topics lose their oldest messages first. */
  private keepUnderTotal(): void {
    while (this.retainedBytes > this.maxTotalBytes) {
      const [topic, oldest] = this.histories.entries().next().value as [string, TopicHistory];
      this.change(oldest, () => oldest.dropOldest());
      if (oldest.size === 0) this.forget(topic, oldest);
    }
  }

  /** A topic left without history; a watched one keeps its epoch and sequence. */
  private forget(topic: string, history: TopicHistory): void {
    this.histories.delete(topic);
    if (this.watched.has(topic)) {
      this.idle.set(topic, { epoch: history.epoch, sequence: history.sequence });
    }
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
        const [lru, forgotten] = this.histories.entries().next().value as [string, TopicHistory];
        this.retainedBytes -= costOf(forgotten);
        this.histories.delete(lru);
      }
    }
    this.histories.set(topic, history);
    return history;
  }
}

/** What a topic's history holds: its frames and the bookkeeping of each message. */
function costOf(history: TopicHistory): number {
  return history.bytes + history.size * MESSAGE_OVERHEAD_BYTES;
}
