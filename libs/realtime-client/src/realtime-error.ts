/** Codes the client adds to the server's (PROTOCOL.md §3). */
export const ClientErrorCode = {
  Timeout: 'TIMEOUT',
  Disconnected: 'DISCONNECTED',
  NotConnected: 'NOT_CONNECTED',
} as const;

/** A request refused by the server (`error` frame) or failed on the client (timeout, link lost). */
export class RealtimeError extends Error {
  override readonly name = 'RealtimeError';

  constructor(
    readonly code: string,
    message: string,
    readonly topic?: string,
  ) {
    super(message);
  }
}
