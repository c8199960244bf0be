/** Who is on the other end of a connection, as the handshake or `auth` proved it. */
export interface Principal {
  userId: string | null;
  roles: readonly string[];
  tokenId: string | undefined;
  /** Token expiry in ms since the epoch; null for anonymous connections. */
  expiresAt: number | null;
  /** Token issue time in ms since the epoch (for user-wide revocation). */
  issuedAt: number | undefined;
}

export const ANONYMOUS: Principal = Object.freeze({
  userId: null,
  roles: Object.freeze([]),
  tokenId: undefined,
  expiresAt: null,
  issuedAt: undefined,
});

/**
 * A verified token's principal. It keeps the token's times in seconds, as the
 * token has them: small integers stored in the object itself, where times in
 * milliseconds since the epoch would each be a heap number of their own, on
 * every connection (docs/benchmarks.md, heap per idle connection).
 */
export class TokenPrincipal implements Principal {
  constructor(
    readonly userId: string,
    readonly roles: readonly string[],
    readonly tokenId: string | undefined,
    private readonly expiresAtSec: number,
    private readonly issuedAtSec: number | undefined,
  ) {
    Object.freeze(this);
  }

  get expiresAt(): number {
    return this.expiresAtSec * 1000;
  }

  get issuedAt(): number | undefined {
    return this.issuedAtSec === undefined ? undefined : this.issuedAtSec * 1000;
  }
}
