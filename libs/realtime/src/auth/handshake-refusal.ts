/** A refused handshake: the HTTP status and a reason safe to show the client. */
export class HandshakeRefusal extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 426 | 429 | 503,
    readonly reason: string,
    /** Seconds a refused client should wait (429, 503): sent as Retry-After. */
    readonly retryAfterSec?: number,
  ) {
    super(reason);
    this.name = 'HandshakeRefusal';
  }
}

/** A slot frees when someone disconnects: worth retrying soon, with jitter on the client. */
export const CAPACITY_RETRY_SEC = 5;
