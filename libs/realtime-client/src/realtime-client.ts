import {
  BROADCAST_TOPIC,
  ClientEvent,
  type ConnectedFrameData,
  DIRECT_TOPIC,
  type ErrorFrameData,
  type MessageFrameData,
  type PresenceDiffFrameData,
  ServerEvent,
  type SubscribedFrameData,
} from '@nest-realtime/protocol';
import { type BackoffOptions, DEFAULT_BACKOFF } from './backoff';
import type { ClientContext, ReplyTo, RequestData } from './client-context';
import { Emitter } from './emitter';
import { Heartbeat } from './heartbeat';
import { Link } from './link';
import { OfflineInbox } from './offline-inbox';
import { ClientErrorCode, isLinkLoss, RealtimeError } from './realtime-error';
import { Requests } from './requests';
import { Subscriptions } from './subscriptions';
import { TokenRefresh } from './token-refresh';
import type {
  ClientEvents,
  ClientStats,
  ConnectedInfo,
  ConnectionState,
  EventMap,
  PresencePage,
  RealtimeClientOptions,
  SubscribeOptions,
  Subscription,
  TopicMessage,
  TopicOf,
} from './types';

interface Frame {
  event: string;
  data: Record<string, unknown>;
}

/**
 * A WebSocket client for RealtimeModule (docs/client.md): reconnects with
 * backoff, resubscribes with `since`, refreshes its token in-band, detects dead
 * links, matches replies by `ref`, acknowledges offline messages. Each of those
 * is a part of its own; this class routes frames to them.
 */
export class RealtimeClient<M extends EventMap = EventMap> extends Emitter<ClientEvents> {
  readonly stats: ClientStats = { reconnects: 0, duplicatesDropped: 0, acked: 0 };
  private readonly context: ClientContext;
  private readonly link: Link;
  private readonly requests: Requests;
  private readonly subscriptions: Subscriptions;
  private readonly refresh: TokenRefresh;
  private readonly heartbeat: Heartbeat;
  private readonly inbox: OfflineInbox;

  constructor(options: RealtimeClientOptions) {
    super();
    const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff };
    const connected = () => this.link.state === 'connected';
    this.context = {
      options,
      stats: this.stats,
      get connected() {
        return connected();
      },
      request: (event, data) => this.request(event, data),
      emit: (event, ...args) => this.emit(event, ...args),
      report: (error) => {
        if (!isLinkLoss(error)) this.emit('error', error as Error);
      },
    };
    this.requests = new Requests(options.requestTimeoutMs ?? 10_000);
    this.subscriptions = new Subscriptions(this.context, backoff.throttledMs);
    this.heartbeat = new Heartbeat(options.pongTimeoutMs ?? 10_000);
    this.inbox = new OfflineInbox(this.context);
    this.refresh = new TokenRefresh(this.context, (renewal) => {
      if (this.link.info) this.link.info = { ...this.link.info, ...renewal };
    });
    this.link = new Link(this.context, backoff, {
      received: (text) => this.receive(text),
      up: (info) => this.linkUp(info),
      alive: () => this.heartbeat.touch(),
      ended: (error) => this.linkEnded(error),
    });
  }

  get state(): ConnectionState {
    return this.link.state;
  }

  /** What the server said in `connected`, while connected. */
  get connection(): ConnectedInfo | undefined {
    return this.link.state === 'connected' ? this.link.info : undefined;
  }

  /** Starts connecting (and reconnecting until close()); does nothing unless closed. */
  connect(): void {
    this.link.connect();
  }

  /** Closes for good: no reconnect, pending requests rejected. connect() starts again. */
  close(): void {
    this.link.close();
  }

  /**
   * Calls `handler` for every message on `topic`, typed by the EventMap. The
   * first handler of a topic subscribes it; later ones share it.
   */
  subscribe<T extends TopicOf<M>>(
    topic: T,
    handler: (message: TopicMessage<M, T>) => void,
    options: SubscribeOptions = {},
  ): Subscription<T> {
    return this.subscriptions.add(topic, handler, options.presence === true);
  }

  /**
   * One page of a subscribed topic's members and its counts (`limit` 0 to
   * 1000, 100 by default; 0 gives the counts alone). Pass the page's `cursor`
   * for the next one; it is null on the last.
   */
  presence(
    topic: TopicOf<M>,
    page: { cursor?: string; limit?: number } = {},
  ): Promise<PresencePage> {
    return this.request(ClientEvent.Presence, { topic, ...page });
  }

  /** Publishes where the topic's policy allows client publish; resolves with the offset. */
  publish<T extends TopicOf<M>, E extends TopicMessage<M, T>['type']>(
    topic: T,
    type: E,
    payload: Extract<TopicMessage<M, T>, { type: E }>['payload'],
  ): Promise<{ offset: string }> {
    return this.request(ClientEvent.Publish, { topic, type, payload });
  }

  /** A round trip to the server; resolves with the server's clock. */
  ping(): Promise<{ ts: number }> {
    return this.request(ClientEvent.Ping, {});
  }

  private request<E extends ClientEvent>(event: E, data: RequestData<E>): Promise<ReplyTo<E>> {
    const socket = this.link.openSocket;
    if (!socket) {
      return Promise.reject(new RealtimeError(ClientErrorCode.NotConnected, 'not connected'));
    }
    return this.requests.send(socket, event, data);
  }

  private receive(text: string): void {
    this.heartbeat.touch();
    const frame = parseFrame(text);
    if (!frame) return;
    const { event, data } = frame;
    if (event === ServerEvent.Connected) {
      return this.link.established(data as unknown as ConnectedInfo);
    }
    if (event === ServerEvent.Message) return this.message(data as unknown as MessageFrameData);
    if (event === ServerEvent.PresenceDiff) {
      return this.emit('presence-diff', data as unknown as PresenceDiffFrameData);
    }
    const ref = typeof data.ref === 'string' ? data.ref : undefined;
    if (event === ServerEvent.Unsubscribed && ref === undefined) {
      return this.subscriptions.dropped((data.topics ?? []) as string[]);
    }
    // Applied now, not when the request's promise settles: the messages right behind it in the
    // same read must find the position it sets. Without ref: the server's own news about held
    // topics (`recovered: false` after it lost messages).
    if (event === ServerEvent.Subscribed) {
      this.subscriptions.confirmed(data as unknown as SubscribedFrameData);
      if (ref === undefined) return;
    }
    const pending = ref !== undefined && this.requests.has(ref);
    if (event === ServerEvent.Error) {
      const { code, message, topic } = data as unknown as ErrorFrameData;
      const error = new RealtimeError(String(code), String(message), topic);
      if (pending) this.requests.settle(ref, undefined, error);
      else this.emit('error', error);
    } else if (pending) {
      this.requests.settle(ref, data);
    }
  }

  private linkUp(info: ConnectedFrameData): void {
    this.refresh.schedule(info.expiresAt);
    this.heartbeat.start(
      this.context.options.heartbeatMs ?? info.heartbeatMs,
      () => {
        if (!this.link.ping()) this.request(ClientEvent.Ping, {}).catch(() => undefined);
      },
      () => this.link.drop('heartbeat timeout'),
    );
    this.subscriptions.restore();
    this.inbox.resume();
  }

  private message(message: MessageFrameData): void {
    if (message.topic === BROADCAST_TOPIC) return this.emit('broadcast', message);
    if (message.topic !== DIRECT_TOPIC) return this.subscriptions.deliver(message);
    if (typeof message.id === 'string' && !this.inbox.receive(message.id)) {
      this.stats.duplicatesDropped++;
      return;
    }
    this.emit('user-message', message);
  }

  private linkEnded(error: RealtimeError): void {
    this.heartbeat.stop();
    this.refresh.stop();
    this.inbox.stop();
    this.subscriptions.stop();
    this.requests.failAll(error);
  }
}

function parseFrame(text: string): Frame | undefined {
  try {
    const frame = JSON.parse(text) as Partial<Frame> | null;
    if (typeof frame?.event !== 'string' || typeof frame.data !== 'object' || !frame.data) {
      return undefined;
    }
    return frame as Frame;
  } catch {
    return undefined;
  }
}
