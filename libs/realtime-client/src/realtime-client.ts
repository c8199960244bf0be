import { backoffDelay, type BackoffOptions, DEFAULT_BACKOFF } from './backoff';
import { closeAction, type CloseAction } from './close-policy';
import { Emitter, invokeIsolated } from './emitter';
import { OfflineInbox } from './offline-inbox';
import { compareOffsets } from './offset-order';
import {
  ACK_EVENT,
  BROADCAST_TOPIC,
  ClientEvent,
  CloseCode,
  DIRECT_TOPIC,
  ErrorCode,
  MAX_TOPICS_PER_SUBSCRIBE,
  ServerEvent,
} from './protocol';
import { ClientErrorCode, RealtimeError } from './realtime-error';
import type {
  ClientEvents,
  ClientStats,
  ConnectedInfo,
  ConnectionState,
  DirectMessage,
  EventMap,
  RealtimeClientOptions,
  Subscription,
  TokenReason,
  TopicMessage,
  TopicOf,
} from './types';

/** The subset of the WebSocket API the client uses; the browser's and `ws`'s both have it. */
interface Socket {
  readonly readyState: number;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** ws only: protocol ping, events for pings and pongs, and a hard close. */
  ping?: () => void;
  on?: (event: string, listener: () => void) => void;
  terminate?: () => void;
}

const OPEN = 1;
const NORMAL_CLOSURE = 1000;
/** ws reports a refused handshake as an error with this text; browsers report nothing. */
const REFUSED = /Unexpected server response: (\d{3})/;

type Handler = (message: never) => void;

interface TopicState {
  handlers: Set<Handler>;
  lastOffset?: string;
  confirmed: boolean;
  settle: (error?: RealtimeError) => void;
  ready: Promise<void>;
}

interface PendingRequest {
  resolve: (data: Record<string, unknown>) => void;
  reject: (error: RealtimeError) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Frame {
  event: string;
  data: Record<string, unknown>;
}

/**
 * A WebSocket client for RealtimeModule (docs/client.md): reconnects with
 * backoff, resubscribes with `since`, refreshes its token in-band, detects dead
 * links, matches replies by `ref`, acknowledges offline messages.
 */
export class RealtimeClient<M extends EventMap = EventMap> extends Emitter<ClientEvents> {
  private currentState: ConnectionState = 'closed';
  private socket: Socket | undefined;
  private refusedStatus: number | undefined;
  private info: ConnectedInfo | undefined;
  private attempt = 0;
  /** Bumped by every open() and close(): a slow getToken() of an abandoned attempt opens nothing. */
  private generation = 0;
  private nextRef = 0;
  private lastActivity = 0;
  private readonly topics = new Map<string, TopicState>();
  private readonly pending = new Map<string, PendingRequest>();
  private readonly inbox: OfflineInbox;
  private readonly backoff: BackoffOptions;
  private readonly timers = new Map<
    'connect' | 'heartbeat' | 'deadline' | 'refresh' | 'reconnect' | 'ack' | 'resubscribe',
    ReturnType<typeof setTimeout>
  >();
  readonly stats: ClientStats = { reconnects: 0, duplicatesDropped: 0, acked: 0 };

  constructor(private readonly options: RealtimeClientOptions) {
    super();
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.inbox = new OfflineInbox(options.seenIdsLimit ?? 1000);
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** What the server said in `connected`, while connected. */
  get connection(): ConnectedInfo | undefined {
    return this.currentState === 'connected' ? this.info : undefined;
  }

  /** Starts connecting (and reconnecting until close()); does nothing unless closed. */
  connect(): void {
    if (this.currentState !== 'closed') return;
    this.attempt = 0;
    void this.open('connect');
  }

  /** Closes for good: no reconnect, pending requests rejected. connect() starts again. */
  close(): void {
    this.generation++;
    this.clearTimer('reconnect');
    if (this.currentState === 'closed') return;
    const socket = this.socket;
    this.endLink(new RealtimeError(ClientErrorCode.Disconnected, 'client closed'));
    socket?.close(NORMAL_CLOSURE, 'client closed');
    this.setState('closed');
    this.emit('closed', { code: NORMAL_CLOSURE, reason: 'client closed' });
  }

  /**
   * Calls `handler` for every message on `topic`, typed by the EventMap. The
   * first handler of a topic subscribes it; later ones share it.
   */
  subscribe<T extends TopicOf<M>>(
    topic: T,
    handler: (message: TopicMessage<M, T>) => void,
  ): Subscription<T> {
    let state = this.topics.get(topic);
    if (!state) {
      let settle!: (error?: RealtimeError) => void;
      const ready = new Promise<void>((resolve, reject) => {
        settle = (error) => (error ? reject(error) : resolve());
      });
      // A refusal also reaches the `error` event; an app that ignores `ready` must not crash.
      ready.catch(() => undefined);
      state = { handlers: new Set(), confirmed: false, settle, ready };
      this.topics.set(topic, state);
      if (this.currentState === 'connected') this.sendSubscribe([topic]);
    }
    const owned = state;
    const entry = handler as Handler;
    owned.handlers.add(entry);
    return {
      topic,
      ready: owned.ready,
      get offset() {
        return owned.lastOffset;
      },
      unsubscribe: () => this.removeHandler(topic, owned, entry),
    };
  }

  /** Publishes where the topic's policy allows client publish; resolves with the offset. */
  publish<T extends TopicOf<M>, E extends TopicMessage<M, T>['type']>(
    topic: T,
    type: E,
    payload: Extract<TopicMessage<M, T>, { type: E }>['payload'],
  ): Promise<{ offset: string }> {
    return this.request(ClientEvent.Publish, { topic, type, payload }) as Promise<{
      offset: string;
    }>;
  }

  /** A round trip to the server; resolves with the server's clock. */
  ping(): Promise<{ ts: number }> {
    return this.request(ClientEvent.Ping, {}) as Promise<{ ts: number }>;
  }

  private async open(reason: TokenReason): Promise<void> {
    const generation = ++this.generation;
    this.setState(reason === 'connect' ? 'connecting' : 'reconnecting');
    if (reason === 'connect') this.emit('connecting');
    else this.emit('reconnecting', { attempt: this.attempt });
    let token: string | null | undefined;
    try {
      token = await this.options.getToken?.(reason);
    } catch (error) {
      if (generation !== this.generation) return;
      this.emit('error', asError(error));
      this.afterClose(CloseCode.InternalError, 'getToken failed');
      return;
    }
    if (generation !== this.generation) return;
    let socket: Socket;
    try {
      const Constructor = this.options.WebSocket ?? globalWebSocket();
      socket = new Constructor(withToken(this.options.url, token)) as Socket;
    } catch (error) {
      this.emit('error', asError(error));
      this.afterClose(CloseCode.InternalError, 'WebSocket constructor failed');
      return;
    }
    this.socket = socket;
    this.refusedStatus = undefined;
    this.setTimer('connect', this.options.connectTimeoutMs ?? 10_000, () =>
      this.dropLink(socket, 'connect timeout'),
    );
    socket.onmessage = (event) => {
      if (this.socket === socket && typeof event.data === 'string') this.receive(event.data);
    };
    socket.onerror = (event) => {
      const status = REFUSED.exec(event.message ?? '')?.[1];
      if (this.socket === socket && status) this.refusedStatus = Number(status);
    };
    socket.onclose = (event) => {
      if (this.socket === socket) this.afterClose(event.code, event.reason);
    };
    const alive = () => (this.lastActivity = Date.now());
    socket.on?.('ping', alive);
    socket.on?.('pong', alive);
  }

  private receive(text: string): void {
    this.lastActivity = Date.now();
    const frame = parseFrame(text);
    if (!frame) return;
    const { event, data } = frame;
    if (event === ServerEvent.Connected) return this.onConnected(data as unknown as ConnectedInfo);
    if (event === ServerEvent.Message) return this.onMessage(data);
    const ref = typeof data.ref === 'string' ? data.ref : undefined;
    if (event === ServerEvent.Unsubscribed && ref === undefined) return this.onDropped(data);
    // Applied now, not when the request's promise settles: the messages right behind it in the
    // same read must find the position it sets. Without ref: the server's own news about held
    // topics (`recovered: false` after it lost messages).
    if (event === ServerEvent.Subscribed) {
      this.onSubscribed(data);
      if (ref === undefined) return;
    }
    const request = ref === undefined ? undefined : this.pending.get(ref);
    if (event === ServerEvent.Error) {
      const error = new RealtimeError(
        String(data.code),
        String(data.message),
        typeof data.topic === 'string' ? data.topic : undefined,
      );
      if (request) this.settleRequest(ref!, undefined, error);
      else this.emit('error', error);
    } else if (request) {
      this.settleRequest(ref!, data);
    }
  }

  private onConnected(info: ConnectedInfo): void {
    this.clearTimer('connect');
    this.info = info;
    if (this.currentState === 'reconnecting') this.stats.reconnects++;
    this.attempt = 0;
    this.setState('connected');
    this.emit('connected', info);
    this.scheduleRefresh(info.expiresAt);
    this.scheduleHeartbeat();
    this.sendSubscribe([...this.topics.keys()]);
    // Held ids go out with the redeliveries that follow `connected`, in one batch.
    if (this.inbox.pending > 0) this.scheduleAck();
  }

  private onMessage(data: Record<string, unknown>): void {
    const message = data as unknown as DirectMessage & { offset?: string };
    if (message.topic === BROADCAST_TOPIC) return this.emit('broadcast', message);
    if (message.topic === DIRECT_TOPIC) {
      if (typeof message.id === 'string') {
        const fresh = this.inbox.receive(message.id);
        this.scheduleAck();
        if (!fresh) {
          this.stats.duplicatesDropped++;
          return;
        }
      }
      return this.emit('user-message', message);
    }
    const state = this.topics.get(message.topic);
    if (!state) return;
    const { offset } = message;
    if (typeof offset === 'string') {
      if (state.lastOffset !== undefined && compareOffsets(offset, state.lastOffset) <= 0) {
        this.stats.duplicatesDropped++;
        return;
      }
      state.lastOffset = offset;
    }
    for (const handler of [...state.handlers]) invokeIsolated(() => handler(message as never));
  }

  /** Subscribes `topics` (with `since` where an offset is known), 50 per frame. */
  private sendSubscribe(topics: string[]): void {
    for (let i = 0; i < topics.length; i += MAX_TOPICS_PER_SUBSCRIBE) {
      const batch = topics.slice(i, i + MAX_TOPICS_PER_SUBSCRIBE);
      const since: Record<string, string> = {};
      for (const topic of batch) {
        const offset = this.topics.get(topic)?.lastOffset;
        if (offset !== undefined) since[topic] = offset;
      }
      const data = Object.keys(since).length > 0 ? { topics: batch, since } : { topics: batch };
      this.request(ClientEvent.Subscribe, data).catch((error: RealtimeError) =>
        this.onSubscribeRefused(batch, error),
      );
    }
  }

  private onSubscribed(reply: Record<string, unknown>): void {
    const topics = (reply.topics ?? []) as Array<{
      topic: string;
      offset: string;
      recovered?: boolean;
    }>;
    for (const { topic, offset, recovered } of topics) {
      const state = this.topics.get(topic);
      if (!state) {
        // Unsubscribed while the request was in flight: the server holds it now, so let it go.
        this.request(ClientEvent.Unsubscribe, { topics: [topic] }).catch(() => undefined);
        continue;
      }
      if (recovered === false) {
        state.lastOffset = offset;
        this.emit('resync-needed', { topic, offset });
      } else if (state.lastOffset === undefined) {
        state.lastOffset = offset;
      }
      if (!state.confirmed) {
        state.confirmed = true;
        state.settle();
      }
    }
  }

  /** The server dropped topics the token refreshed by `auth` no longer allows. */
  private onDropped(data: Record<string, unknown>): void {
    for (const topic of (data.topics ?? []) as string[]) {
      if (!this.topics.delete(topic)) continue;
      this.emit(
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
   * subscribe is all-or-nothing: a refused topic is dropped (its `ready`
   * rejects) and the rest are sent again; a refusal without a topic is retried
   * after the throttle delay; a lost link resubscribes on the next connection.
   */
  private onSubscribeRefused(batch: string[], error: RealtimeError): void {
    if (isLinkLoss(error)) return;
    this.emit('error', error);
    const refused = error.topic === undefined ? undefined : this.topics.get(error.topic);
    if (refused && batch.includes(error.topic!)) {
      this.topics.delete(error.topic!);
      refused.settle(error);
      const rest = batch.filter((topic) => topic !== error.topic && this.topics.has(topic));
      if (rest.length > 0) this.sendSubscribe(rest);
      return;
    }
    this.setTimer('resubscribe', this.backoff.throttledMs, () =>
      this.sendSubscribe(batch.filter((topic) => this.topics.has(topic))),
    );
  }

  private removeHandler(topic: string, state: TopicState, handler: Handler): void {
    state.handlers.delete(handler);
    if (state.handlers.size > 0 || this.topics.get(topic) !== state) return;
    this.topics.delete(topic);
    if (this.currentState === 'connected') {
      this.request(ClientEvent.Unsubscribe, { topics: [topic] }).catch((error: RealtimeError) => {
        if (!isLinkLoss(error)) this.emit('error', error);
      });
    }
  }

  /** Sends a frame with a fresh `ref` and settles with the reply that echoes it. */
  private request(event: string, data: Record<string, unknown>): Promise<Record<string, unknown>> {
    const socket = this.socket;
    if (this.currentState !== 'connected' || !socket || socket.readyState !== OPEN) {
      return Promise.reject(new RealtimeError(ClientErrorCode.NotConnected, 'not connected'));
    }
    const ref = `r${++this.nextRef}`;
    const timeoutMs = this.options.requestTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.settleRequest(
            ref,
            undefined,
            new RealtimeError(ClientErrorCode.Timeout, `${event} timed out after ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      this.pending.set(ref, { resolve, reject, timer });
      socket.send(JSON.stringify({ event, data: { ...data, ref } }));
    });
  }

  private settleRequest(ref: string, data?: Record<string, unknown>, error?: RealtimeError): void {
    const request = this.pending.get(ref);
    if (!request) return;
    this.pending.delete(ref);
    clearTimeout(request.timer);
    if (error) return request.reject(error);
    const reply = { ...data };
    delete reply.ref;
    request.resolve(reply);
  }

  /** Refreshes before `expiresAt`: at most `refreshBeforeExpiryMs` before, at most half the remaining life. */
  private scheduleRefresh(expiresAt: number | null): void {
    if (expiresAt === null || !this.options.getToken) return;
    const remaining = expiresAt - Date.now();
    const lead = Math.min(this.options.refreshBeforeExpiryMs ?? 30_000, remaining / 2);
    this.setTimer(
      'refresh',
      Math.max(0, remaining - lead),
      () => void this.refreshToken(expiresAt),
    );
  }

  private async refreshToken(expiresAt: number): Promise<void> {
    try {
      const token = await this.options.getToken?.('refresh');
      if (!token || this.currentState !== 'connected') return;
      const reply = await this.request(ClientEvent.Auth, { token });
      const renewed = {
        userId: (reply.userId ?? null) as string | null,
        expiresAt: (reply.expiresAt ?? null) as number | null,
      };
      if (this.info) this.info = { ...this.info, ...renewed };
      this.emit('authenticated', renewed);
      this.scheduleRefresh(renewed.expiresAt);
    } catch (error) {
      if (isLinkLoss(error)) return;
      this.emit('error', asError(error));
      // Try again while the token still lives; past expiresAt the server closes with 4001.
      if (this.currentState === 'connected') this.scheduleRefresh(expiresAt);
    }
  }

  /**
   * Liveness: every inbound frame, ping or pong counts. An idle link is probed
   * every heartbeat: a protocol ping where the runtime can send one (ws), else
   * a `ping` event (browsers); nothing back within `pongTimeoutMs` is a dead link.
   */
  private scheduleHeartbeat(): void {
    const interval = this.options.heartbeatMs ?? this.info?.heartbeatMs;
    if (!interval || interval <= 0) return;
    this.setTimer('heartbeat', interval, () => {
      const socket = this.socket;
      if (!socket) return;
      if (!this.timers.has('deadline') && Date.now() - this.lastActivity >= interval) {
        const probedAt = Date.now();
        if (socket.ping) socket.ping();
        else this.request(ClientEvent.Ping, {}).catch(() => undefined);
        this.setTimer('deadline', this.options.pongTimeoutMs ?? 10_000, () => {
          if (this.lastActivity < probedAt) this.dropLink(socket, 'heartbeat timeout');
        });
      }
      this.scheduleHeartbeat();
    });
  }

  /** Gives up on a link that does not answer: no waiting for a close handshake that may never come. */
  private dropLink(socket: Socket, reason: string): void {
    if (this.socket !== socket) return;
    this.afterClose(CloseCode.HeartbeatTimeout, reason);
    if (socket.terminate) socket.terminate();
    else socket.close(CloseCode.HeartbeatTimeout, reason);
  }

  private scheduleAck(): void {
    if (this.timers.has('ack')) return;
    this.setTimer('ack', this.options.ackDelayMs ?? 50, () => this.flushAcks());
  }

  /** Sends the queued ids, one frame per 100; ids lost with the link come back and are acked then. */
  private flushAcks(): void {
    this.clearTimer('ack');
    while (this.currentState === 'connected' && this.inbox.pending > 0) {
      const ids = this.inbox.takeBatch();
      this.request(ACK_EVENT, { ids }).then(
        () => (this.stats.acked += ids.length),
        (error: RealtimeError) => {
          if (!isLinkLoss(error)) this.emit('error', error);
        },
      );
    }
  }

  /** The link ended: decide from the close-code table whether and when to reconnect. */
  private afterClose(code: number, reason: string): void {
    const status = this.refusedStatus;
    this.endLink(new RealtimeError(ClientErrorCode.Disconnected, `connection closed (${code})`));
    const action: CloseAction = closeAction(code, status);
    if (action === 'stop') {
      this.setState('closed');
      this.emit('closed', { code, reason, status });
      return;
    }
    const delayMs = this.reconnectDelay(action);
    this.setState('disconnected');
    this.emit('disconnected', { code, reason, status, delayMs });
    this.setTimer(
      'reconnect',
      delayMs,
      () => void this.open(action === 'refresh-token' ? 'expired' : 'reconnect'),
    );
  }

  private reconnectDelay(action: CloseAction): number {
    const attempt = this.attempt++;
    if (action === 'refresh-token' && attempt === 0) return 0;
    const delay = backoffDelay(attempt, this.backoff);
    return action === 'throttle' ? this.backoff.throttledMs + delay : delay;
  }

  /** Forgets the socket and every timer and request bound to it. */
  private endLink(error: RealtimeError): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = null;
    }
    for (const name of [
      'connect',
      'heartbeat',
      'deadline',
      'refresh',
      'ack',
      'resubscribe',
    ] as const) {
      this.clearTimer(name);
    }
    for (const ref of [...this.pending.keys()]) this.settleRequest(ref, undefined, error);
  }

  private setState(state: ConnectionState): void {
    const previous = this.currentState;
    if (previous === state) return;
    this.currentState = state;
    this.emit('state', state, previous);
  }

  private setTimer(name: Parameters<typeof this.timers.set>[0], ms: number, run: () => void): void {
    this.clearTimer(name);
    this.timers.set(
      name,
      setTimeout(() => {
        this.timers.delete(name);
        run();
      }, ms),
    );
  }

  private clearTimer(name: Parameters<typeof this.timers.set>[0]): void {
    const timer = this.timers.get(name);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(name);
  }
}

function globalWebSocket(): new (url: string) => object {
  const constructor = (globalThis as { WebSocket?: new (url: string) => object }).WebSocket;
  if (!constructor) throw new Error('no global WebSocket: pass options.WebSocket (ws on Node 20)');
  return constructor;
}

function withToken(url: string, token: string | null | undefined): string {
  if (!token) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
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

/** The link went down under a request: the next connection takes over, nothing to report. */
function isLinkLoss(error: unknown): boolean {
  const code = (error as RealtimeError | undefined)?.code;
  return code === ClientErrorCode.Disconnected || code === ClientErrorCode.NotConnected;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
