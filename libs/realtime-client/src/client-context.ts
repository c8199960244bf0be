import type { ClientEvent, ClientFrameData, ReplyData } from '@nest-realtime/protocol';
import type { ClientEvents, ClientStats, RealtimeClientOptions } from './types';

/** A request's data: the frame's fields, without the `ref` the client adds. */
export type RequestData<E extends ClientEvent> = Omit<ClientFrameData[E], 'ref'>;
/** A request's success reply, without the `ref` it echoed. */
export type ReplyTo<E extends ClientEvent> = Omit<ReplyData<E>, 'ref'>;

/** What the parts of a RealtimeClient share: its options, its link's requests, its events. */
export interface ClientContext {
  readonly options: RealtimeClientOptions;
  readonly stats: ClientStats;
  /** The `connected` frame arrived on the current link and the link is up. */
  readonly connected: boolean;
  /** Sends a request on the current link; rejects with NOT_CONNECTED when there is none. */
  request<E extends ClientEvent>(event: E, data: RequestData<E>): Promise<ReplyTo<E>>;
  emit<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void;
  /** Reports a failure on the `error` event, unless it is only the link going down. */
  report(error: unknown): void;
}
