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

/** The link went down under a request: the next connection takes over, nothing to report. */
export function isLinkLoss(error: unknown): boolean {
  const code = (error as RealtimeError | undefined)?.code;
  return code === ClientErrorCode.Disconnected || code === ClientErrorCode.NotConnected;
}

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
