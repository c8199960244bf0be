import { CloseCode } from '@nest-realtime/protocol';

/** What the client does after a connection ends. */
export type CloseAction =
  /** Stay closed: reconnecting would be refused again. */
  | 'stop'
  /** Reconnect after the backoff delay, resubscribing with `since`. */
  | 'reconnect'
  /** Reconnect at once, asking `getToken()` for a fresh token first. */
  | 'refresh-token'
  /** Reconnect after at least `backoff.throttledMs`: the server asked us to slow down. */
  | 'throttle';

/** Status of a refused handshake, when the runtime exposes it (ws on Node; browsers hide it). */
const REFUSED_STATUS: Record<number, CloseAction> = {
  401: 'stop',
  403: 'stop',
  429: 'throttle',
  503: 'reconnect',
};

/**
 * The close-code table (docs/client.md). Codes not listed (1006 network loss,
 * 1011, 4000 heartbeat timeout, 1009, 1001 and 1012 restarts) reconnect and recover.
 */
export function closeAction(code: number, refusedStatus?: number): CloseAction {
  if (refusedStatus !== undefined) return REFUSED_STATUS[refusedStatus] ?? 'reconnect';
  switch (code) {
    case CloseCode.Revoked:
      return 'stop';
    case CloseCode.TokenExpired:
      return 'refresh-token';
    case CloseCode.RateLimitExceeded:
    case CloseCode.SlowConsumer:
      return 'throttle';
    default:
      return 'reconnect';
  }
}
