import {
  ClientEvent,
  compareOffsets,
  ErrorCode,
  MAX_TOPICS_PER_REQUEST,
  type MessageFrameData,
  type SubscribedFrameData,
} from '@nest-realtime/protocol';
import type { ClientContext } from './client-context';
import { invokeIsolated } from './emitter';
import { isLinkLoss, RealtimeError } from './realtime-error';
import { Timer } from './timer';
import type { Subscription } from './types';

type Handler = (message: never) => void;

interface TopicState {
  handlers: Set<Handler>;
  lastOffset?: string;
  /** Subscribed with `presence: true` (diffs wanted); sticky once a handler asked. */
  presence: boolean;
  confirmed: boolean;
  settle: (error?: RealtimeError) => void;
  ready: Promise<void>;
}

/**
 * The topics the app subscribed, with their handlers and last offsets: they
 * are subscribed again (with `since`) on every connection, and their messages
 * reach the handlers in offset order, each once.
 */
export class Subscriptions {
  private readonly topics = new Map<string, TopicState>();
  /** Topics refused without a topic named (RATE_LIMITED), all sent again by one retry. */
  private readonly refusedTopics = new Set<string>();
  private readonly retry = new Timer();

  constructor(
    private readonly context: ClientContext,
    /** How long a subscribe refused without a topic (RATE_LIMITED) waits before it is sent again. */
    private readonly retryMs: number,
  ) {}

  /** The first handler of a topic subscribes it; later ones share it. */
  add<T extends string>(topic: T, handler: Handler, presence = false): Subscription<T> {
    let state = this.topics.get(topic);
    if (state && presence && !state.presence) {
      // Held already: asking again with the flag confirms it without replay and adds the diffs.
      state.presence = true;
      if (this.context.connected) this.send([topic]);
    }
    if (!state) {
      let settle!: (error?: RealtimeError) => void;
      const ready = new Promise<void>((resolve, reject) => {
        settle = (error) => (error ? reject(error) : resolve());
      });
      // A refusal also reaches the `error` event; an app that ignores `ready` must not crash.
      ready.catch(() => undefined);
      state = { handlers: new Set(), confirmed: false, settle, ready, presence };
      this.topics.set(topic, state);
      if (this.context.connected) this.send([topic]);
    }
    const owned = state;
    owned.handlers.add(handler);
    return {
      topic,
      ready: owned.ready,
      get offset() {
        return owned.lastOffset;
      },
      unsubscribe: () => this.remove(topic, owned, handler),
    };
  }

  /** A new connection: every topic again, with `since` where an offset is known. */
  restore(): void {
    this.send([...this.topics.keys()]);
  }

  /** The link ended: a pending retry waits for the next connection. */
  stop(): void {
    this.retry.clear();
    this.refusedTopics.clear();
  }

  /** A topic message: to the handlers, unless its offset is not after the last one seen. */
  deliver(message: MessageFrameData): void {
    const state = this.topics.get(message.topic);
    if (!state) return;
    const { offset } = message;
    if (typeof offset === 'string') {
      if (state.lastOffset !== undefined && compareOffsets(offset, state.lastOffset) <= 0) {
        this.context.stats.duplicatesDropped++;
        return;
      }
      state.lastOffset = offset;
    }
    for (const handler of [...state.handlers]) invokeIsolated(() => handler(message as never));
  }

  /** The server dropped topics the token refreshed by `auth` no longer allows. */
  dropped(topics: readonly string[]): void {
    for (const topic of topics) {
      if (!this.topics.delete(topic)) continue;
      this.context.emit(
        'error',
        new RealtimeError(
          ErrorCode.ForbiddenTopic,
          'the refreshed token does not allow this topic',
          topic,
        ),
      );
    }
  }

  /**
   * Subscribes `topics` (with `since` where an offset is known), as many per
   * frame as allowed; those that want presence diffs in frames of their own
   * (`presence: true` applies to every topic of its request).
   */
  private send(topics: string[]): void {
    const diffs = topics.filter((topic) => this.topics.get(topic)?.presence === true);
    const plain = topics.filter((topic) => this.topics.get(topic)?.presence !== true);
    this.sendBatches(plain, false);
    this.sendBatches(diffs, true);
  }

  private sendBatches(topics: string[], presence: boolean): void {
    for (let i = 0; i < topics.length; i += MAX_TOPICS_PER_REQUEST) {
      const batch = topics.slice(i, i + MAX_TOPICS_PER_REQUEST);
      const since: Record<string, string> = {};
      for (const topic of batch) {
        const offset = this.topics.get(topic)?.lastOffset;
        if (offset !== undefined) since[topic] = offset;
      }
      const data: { topics: string[]; since?: Record<string, string>; presence?: boolean } = {
        topics: batch,
      };
      if (Object.keys(since).length > 0) data.since = since;
      if (presence) data.presence = true;
      // The reply is applied as it arrives (RealtimeClient.receive), not here a microtask later.
      this.context
        .request(ClientEvent.Subscribe, data)
        .catch((error: RealtimeError) => this.refused(batch, error));
    }
  }

  /** A `subscribed` frame: the reply to a subscribe, or (no ref) the server's resync of held topics. */
  confirmed({ topics }: Omit<SubscribedFrameData, 'ref'>): void {
    for (const { topic, offset, recovered } of topics) {
      const state = this.topics.get(topic);
      if (!state) {
        // Unsubscribed while the request was in flight: the server holds it now, so let it go.
        this.context.request(ClientEvent.Unsubscribe, { topics: [topic] }).catch(() => undefined);
        continue;
      }
      if (recovered === false) {
        state.lastOffset = offset;
        this.context.emit('resync-needed', { topic, offset });
      } else if (state.lastOffset === undefined) {
        state.lastOffset = offset;
      }
      if (!state.confirmed) {
        state.confirmed = true;
        state.settle();
      }
    }
  }

  /**
   * subscribe is all-or-nothing: a refused topic is dropped (its `ready`
   * rejects) and the rest are sent again; topics refused without a topic named
   * are sent again together after the throttle delay, however many frames were
   * refused; a lost link resubscribes on the next connection.
   */
  private refused(batch: string[], error: RealtimeError): void {
    if (isLinkLoss(error)) return;
    this.context.emit('error', error);
    const refused = error.topic === undefined ? undefined : this.topics.get(error.topic);
    if (refused && batch.includes(error.topic!)) {
      this.topics.delete(error.topic!);
      refused.settle(error);
      const rest = batch.filter((topic) => topic !== error.topic && this.topics.has(topic));
      if (rest.length > 0) this.send(rest);
      return;
    }
    for (const topic of batch) this.refusedTopics.add(topic);
    if (!this.retry.armed) this.retry.set(this.retryMs, () => this.sendRefused());
  }

  private sendRefused(): void {
    const topics = [...this.refusedTopics].filter((topic) => this.topics.has(topic));
    this.refusedTopics.clear();
    this.send(topics);
  }

  private remove(topic: string, state: TopicState, handler: Handler): void {
    state.handlers.delete(handler);
    if (state.handlers.size > 0 || this.topics.get(topic) !== state) return;
    this.topics.delete(topic);
    if (this.context.connected) {
      this.context
        .request(ClientEvent.Unsubscribe, { topics: [topic] })
        .catch((error) => this.context.report(error));
    }
  }
}
