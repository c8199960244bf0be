import {
  type EventMap,
  RealtimeClient,
  type RealtimeError,
  type TopicOf,
} from '@nest-realtime/client';
import WebSocket from 'ws';
import type { ChaosConfig } from './chaos-config';
import type { ChaosLedger } from './ledger/chaos-ledger';
import type { SubscribedEntry } from './ledger/topic-ledger';

/** Picks the instance for each new connection, as a load balancer with health checks would. */
export interface Balancer {
  /** An instance that is up, or undefined when none is. */
  pick(): number | undefined;
  port(index: number): number;
}

/** One connection of a client: where it went, when it was up. */
export interface Link {
  instance: number | undefined;
  openedAt: number;
  connectedAt?: number;
  endedAt?: number;
}

/** The demo's events (src/app-events.ts) as the chaos clients see them, and the chat rooms' messages. */
interface ChaosEvents extends EventMap {
  orders: { 'order.created': unknown };
  user: { 'order.created': unknown };
  inventory: { 'inventory.updated': unknown };
  chat: { 'chat.message': { ledger: string } };
}

interface Frame {
  event: string;
  data: Record<string, any>;
}

/** The host the SDK is given; each connection's socket replaces it with a picked instance. */
const PLACEHOLDER = 'chaos.invalid';
const REFUSED = /Unexpected server response: (\d{3})/;

/** The ledger id a publisher put in a message's payload (see workload.ts). */
export function ledgerIdOf(topic: string, payload: any): string | undefined {
  if (topic === 'orders' || topic.startsWith('user:')) return payload?.items?.[0]?.sku;
  if (topic.startsWith('inventory:')) return `${payload?.sku}#${payload?.stock}`;
  if (topic.startsWith('chat:')) return payload?.ledger;
  return undefined;
}

/**
 * One user's device: the project's client SDK (reconnect with backoff and
 * jitter, `since` recovery, acks) over `ws`, through a WebSocket subclass
 * that hands the ledger every frame the SDK sends and processes, in order.
 */
export class ChaosClient {
  readonly sdk: RealtimeClient<ChaosEvents>;
  /** The socket the SDK uses now, and the instance it reaches. */
  private socket: WebSocket | undefined;
  instance: number | undefined;
  /** Since when the current connection is up (`connected` received); undefined when it is not. */
  connectedAt: number | undefined;
  /** The user left (close()) and has not come back yet. */
  away = false;
  /** The SDK stopped for good (4003, 401): no reconnect. */
  ended = false;
  /** Every connection this client opened, in order. */
  readonly links: Link[] = [];
  private readonly sinceByRef = new Map<string, Record<string, string> | undefined>();
  private inbox: ReturnType<ChaosLedger['notifications']['connected']> | undefined;

  constructor(
    readonly id: string,
    readonly user: string,
    readonly topics: readonly string[],
    token: string,
    private readonly ledger: ChaosLedger,
    balancer: Balancer,
    config: ChaosConfig,
  ) {
    this.sdk = new RealtimeClient<ChaosEvents>({
      url: `ws://${PLACEHOLDER}/ws`,
      WebSocket: this.socketClass(balancer),
      getToken: () => token,
      backoff: { initialMs: 300, maxMs: config.backoffMaxMs, throttledMs: 1_000 },
      connectTimeoutMs: 5_000,
      requestTimeoutMs: 10_000,
      pongTimeoutMs: config.pongTimeoutMs,
    });
    this.sdk.on('closed', ({ code, status }) => {
      if (this.away) return;
      this.ended = true;
      ledger.revocations.ended(id, user, code, status, Date.now());
    });
  }

  start(): void {
    for (const topic of this.topics)
      this.sdk.subscribe(topic as TopicOf<ChaosEvents>, () => undefined);
    this.sdk.connect();
  }

  /** The user goes away (closes the app). */
  leave(): void {
    this.away = true;
    this.sdk.close();
  }

  comeBack(): void {
    if (this.ended) return;
    this.away = false;
    this.sdk.connect();
  }

  get connected(): boolean {
    return this.sdk.state === 'connected' && this.connectedAt !== undefined;
  }

  /** A chat message through the SDK's `publish`; true once the server gave it an offset. */
  async publish(topic: string, ledgerId: string): Promise<boolean> {
    try {
      const { offset } = await this.sdk.publish(topic as `chat:${string}`, 'chat.message', {
        ledger: ledgerId,
      });
      this.ledger.topics.confirmed(topic, offset, ledgerId);
      return true;
    } catch (error) {
      this.ledger.clientErrors.add(`publish: ${(error as RealtimeError).code}`);
      return false;
    }
  }

  private socketClass(balancer: Balancer): new (url: string) => WebSocket {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the class below needs its client
    const client = this;
    return class LedgerSocket extends WebSocket {
      constructor(url: string) {
        const index = balancer.pick();
        // No instance up: a port nobody listens on, so the attempt fails like a refused connection.
        const port = index === undefined ? 1 : balancer.port(index);
        super(url.replace(PLACEHOLDER, `127.0.0.1:${port}`));
        client.opened(this, index);
        this.on('message', (data: Buffer) => {
          // Only while the SDK listens: it drops a socket it gave up on.
          if (this.onmessage) client.received(this, data.toString());
        });
        this.on('error', (error: Error) => {
          const status = REFUSED.exec(error.message)?.[1];
          if (status) client.ledger.refusals.add(Number(status));
        });
        this.on('close', (code: number) => client.closed(this, code));
        const send = this.send.bind(this);
        this.send = ((data: string) => {
          client.sending(data);
          send(data);
        }) as WebSocket['send'];
      }
    };
  }

  private opened(socket: WebSocket, instance: number | undefined): void {
    this.endConnection();
    this.socket = socket;
    this.instance = instance;
    this.links.push({ instance, openedAt: Date.now() });
    this.ledger.connections++;
  }

  private closed(socket: WebSocket, code: number): void {
    this.ledger.socketClosed(this.id, code);
    if (socket === this.socket) this.endConnection();
  }

  /** The SDK moved on from its connection (closed, or replaced by a new attempt). */
  private endConnection(): void {
    if (!this.socket) return;
    this.socket = undefined;
    this.links[this.links.length - 1].endedAt = Date.now();
    this.connectedAt = undefined;
    this.sinceByRef.clear();
    this.ledger.topics.connectionEnded(this.id);
    if (this.inbox) this.ledger.notifications.closed(this.inbox, Date.now());
    this.inbox = undefined;
  }

  private sending(text: string): void {
    const frame = JSON.parse(text) as Frame;
    if (frame.event === 'subscribe') {
      this.sinceByRef.set(frame.data.ref as string, frame.data.since as Record<string, string>);
    }
  }

  private received(socket: WebSocket, text: string): void {
    if (socket !== this.socket) return;
    const { event, data } = JSON.parse(text) as Frame;
    const now = Date.now();
    switch (event) {
      case 'connected':
        this.connectedAt = now;
        this.links[this.links.length - 1].connectedAt = now;
        this.inbox = this.ledger.notifications.connected(this.user, now, this.instance);
        return;
      case 'subscribed': {
        const ref = data.ref as string | undefined;
        const since = ref === undefined ? undefined : this.sinceByRef.get(ref);
        if (ref !== undefined) this.sinceByRef.delete(ref);
        this.ledger.topics.subscribed(
          this.id,
          data.topics as SubscribedEntry[],
          since,
          ref !== undefined,
        );
        return;
      }
      case 'message':
        return this.onMessage(data, now);
      case 'acked':
        this.ledger.notifications.acked(data.ids as string[], now);
        return;
      case 'error':
        this.ledger.clientErrors.add(String(data.code));
        return;
    }
  }

  private onMessage(data: Record<string, any>, now: number): void {
    const topic = data.topic as string;
    if (topic === '$user') {
      if (typeof data.id === 'string' && this.inbox) {
        this.ledger.notifications.delivered(this.inbox, data.id, now);
      }
      return;
    }
    if (topic === '$broadcast') return;
    this.ledger.topics.message(this.id, topic, data.offset, ledgerIdOf(topic, data.payload));
  }
}
