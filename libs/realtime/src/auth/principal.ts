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
