import type { WebSocketConstructor } from './types';

/** The subset of the WebSocket API the client uses; the browser's and `ws`'s both have it. */
export interface ClientSocket {
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

export const OPEN = 1;
/** ws reports a refused handshake as an error with this text; browsers report nothing. */
const REFUSED = /Unexpected server response: (\d{3})/;

/** Opens a socket to `url`, with the token in the query when there is one. */
export function openSocket(
  url: string,
  token: string | null | undefined,
  Constructor: WebSocketConstructor = globalWebSocket(),
): ClientSocket {
  const target = token
    ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`
    : url;
  return new Constructor(target) as ClientSocket;
}

/** The HTTP status of a refused handshake, where the runtime reports it (ws on Node). */
export function refusedStatusOf(event: { message?: string }): number | undefined {
  const status = REFUSED.exec(event.message ?? '')?.[1];
  return status === undefined ? undefined : Number(status);
}

function globalWebSocket(): WebSocketConstructor {
  const constructor = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!constructor) throw new Error('no global WebSocket: pass options.WebSocket (ws on Node 20)');
  return constructor;
}
