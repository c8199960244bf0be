import { CloseCode, type ConnectedFrameData } from '@nest-realtime/protocol';
import { backoffDelay, type BackoffOptions } from './backoff';
import type { ClientContext } from './client-context';
import { type CloseAction, closeAction } from './close-policy';
import { asError, ClientErrorCode, RealtimeError } from './realtime-error';
import { type ClientSocket, OPEN, openSocket, refusedStatusOf } from './socket';
import { Timer } from './timer';
import type { ConnectionState, TokenReason } from './types';

const NORMAL_CLOSURE = 1000;
/**
 * Left on a forgotten socket: ws emits `error` when a socket still in its
 * handshake is closed, and an `error` nobody listens to ends the Node process.
 */
const absorbError = () => undefined;

/** What a link tells the client it belongs to. */
export interface LinkListener {
  /** A text frame arrived (the `connected` frame included). */
  received(text: string): void;
  /** The `connected` frame arrived: arm what is bound to the link, before its events. */
  up(info: ConnectedFrameData): void;
  /** A ping or pong arrived (ws only). */
  alive(): void;
  /** The link ended: everything bound to it stops, its requests fail with `error`. */
  ended(error: RealtimeError): void;
}

/**
 * The connection's state machine (docs/client.md): opens a socket with a
 * fresh token, waits for `connected`, and after the link ends decides from
 * the close-code table whether and when to open the next one.
 */
export class Link {
  private current: ConnectionState = 'closed';
  private socket: ClientSocket | undefined;
  private refusedStatus: number | undefined;
  private attempt = 0;
  /** Since a 4001: every attempt asks `getToken('expired')` until one connects. */
  private tokenExpired = false;
  /** Bumped by every open() and close(): a slow getToken() of an abandoned attempt opens nothing. */
  private generation = 0;
  private readonly connectTimer = new Timer();
  private readonly reconnectTimer = new Timer();
  /** What the server said in `connected`, while connected. */
  info: ConnectedFrameData | undefined;

  constructor(
    private readonly context: ClientContext,
    private readonly backoff: BackoffOptions,
    private readonly listener: LinkListener,
  ) {}

  get state(): ConnectionState {
    return this.current;
  }

  /** The socket, once `connected` arrived and while it is open. */
  get openSocket(): ClientSocket | undefined {
    const socket = this.socket;
    return this.current === 'connected' && socket?.readyState === OPEN ? socket : undefined;
  }

  connect(): void {
    if (this.current !== 'closed') return;
    this.attempt = 0;
    this.tokenExpired = false;
    void this.open('connect');
  }

  /** Closes for good: no reconnect. */
  close(): void {
    this.generation++;
    this.reconnectTimer.clear();
    if (this.current === 'closed') return;
    const socket = this.socket;
    this.end(new RealtimeError(ClientErrorCode.Disconnected, 'client closed'));
    socket?.close(NORMAL_CLOSURE, 'client closed');
    this.setState('closed');
    this.context.emit('closed', { code: NORMAL_CLOSURE, reason: 'client closed' });
  }

  /** The `connected` frame arrived: the link is up. */
  established(info: ConnectedFrameData): void {
    this.connectTimer.clear();
    this.info = info;
    if (this.current === 'reconnecting') this.context.stats.reconnects++;
    this.attempt = 0;
    this.tokenExpired = false;
    const previous = this.current;
    this.current = 'connected';
    // Armed before any listener runs: one that calls close() stops it all, and one that
    // subscribes finds the held topics sent already, so its topic goes out once.
    this.listener.up(info);
    const generation = this.generation;
    if (previous !== 'connected') this.context.emit('state', 'connected', previous);
    if (generation === this.generation) this.context.emit('connected', info);
  }

  /** A protocol ping where the runtime can send one; false where it cannot (browsers). */
  ping(): boolean {
    if (!this.socket?.ping) return false;
    this.socket.ping();
    return true;
  }

  /** Gives up on a link that does not answer: no waiting for a close handshake that may never come. */
  drop(reason: string): void {
    const socket = this.socket;
    if (!socket) return;
    this.afterClose(CloseCode.HeartbeatTimeout, reason);
    if (socket.terminate) socket.terminate();
    else socket.close(CloseCode.HeartbeatTimeout, reason);
  }

  private async open(reason: TokenReason): Promise<void> {
    const generation = ++this.generation;
    this.setState(reason === 'connect' ? 'connecting' : 'reconnecting');
    if (reason === 'connect') this.context.emit('connecting');
    else this.context.emit('reconnecting', { attempt: this.attempt });
    let token: string | null | undefined;
    try {
      token = await this.context.options.getToken?.(reason);
    } catch (error) {
      if (generation !== this.generation) return;
      this.context.emit('error', asError(error));
      this.afterClose(CloseCode.InternalError, 'getToken failed');
      return;
    }
    if (generation !== this.generation) return;
    let socket: ClientSocket;
    try {
      socket = openSocket(this.context.options.url, token, this.context.options.WebSocket);
    } catch (error) {
      this.context.emit('error', asError(error));
      this.afterClose(CloseCode.InternalError, 'WebSocket constructor failed');
      return;
    }
    this.socket = socket;
    this.connectTimer.set(this.context.options.connectTimeoutMs ?? 10_000, () => {
      if (this.socket === socket) this.drop('connect timeout');
    });
    socket.onmessage = (event) => {
      if (this.socket === socket && typeof event.data === 'string')
        this.listener.received(event.data);
    };
    socket.onerror = (event) => {
      const status = refusedStatusOf(event);
      if (this.socket === socket && status !== undefined) this.refusedStatus = status;
    };
    socket.onclose = (event) => {
      if (this.socket === socket) this.afterClose(event.code, event.reason);
    };
    const alive = () => {
      if (this.socket === socket) this.listener.alive();
    };
    socket.on?.('ping', alive);
    socket.on?.('pong', alive);
  }

  /** The link ended: decide from the close-code table whether and when to reconnect. */
  private afterClose(code: number, reason: string): void {
    const status = this.refusedStatus;
    this.end(new RealtimeError(ClientErrorCode.Disconnected, `connection closed (${code})`));
    const action = closeAction(code, status);
    if (action === 'stop') {
      this.setState('closed');
      this.context.emit('closed', { code, reason, status });
      return;
    }
    if (action === 'refresh-token') this.tokenExpired = true;
    const delayMs = this.reconnectDelay(action);
    // Armed before the events, so that a listener that calls close() clears it.
    this.reconnectTimer.set(
      delayMs,
      () => void this.open(this.tokenExpired ? 'expired' : 'reconnect'),
    );
    const generation = this.generation;
    this.setState('disconnected');
    if (generation === this.generation) {
      this.context.emit('disconnected', { code, reason, status, delayMs });
    }
  }

  private reconnectDelay(action: CloseAction): number {
    const attempt = this.attempt++;
    if (action === 'refresh-token' && attempt === 0) return 0;
    const delay = backoffDelay(attempt, this.backoff);
    return action === 'throttle' ? this.backoff.throttledMs + delay : delay;
  }

  /** Forgets the socket and everything bound to it. */
  private end(error: RealtimeError): void {
    const socket = this.socket;
    this.socket = undefined;
    this.refusedStatus = undefined;
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = absorbError;
    }
    this.connectTimer.clear();
    this.listener.ended(error);
  }

  private setState(state: ConnectionState): void {
    const previous = this.current;
    if (previous === state) return;
    this.current = state;
    this.context.emit('state', state, previous);
  }
}
