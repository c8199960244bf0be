import { Inject, Injectable } from '@nestjs/common';
import type { RealtimeEngine, RevokeCommand } from '../engine/realtime-engine.port';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode } from '../protocol';
import { REALTIME_ENGINE, REALTIME_OPTIONS } from '../realtime.constants';
import { ConnectionRegistry } from '../registry/connection.registry';
import type { Principal } from './principal';

/** How long a revocation is remembered when the token's expiry is not given: longer than any token should live. */
const REVOCATION_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Revoked token ids (until the token's own expiry, or 24 hours) and user-wide
 * revocations (every token of the user issued up to that second, for 24
 * hours). The engine carries them to every node and, in Redis mode, keeps
 * them in Redis, so a node started later learns them at start-up; this
 * node's tables are the cache the per-message check reads synchronously.
 * Both tables are bounded by limits.maxTrackedKeys; the oldest entry goes first.
 */
@Injectable()
export class RevocationService {
  private readonly tokens = new Map<string, number>();
  private readonly users = new Map<string, number>();

  constructor(
    @Inject(REALTIME_ENGINE) private readonly engine: RealtimeEngine,
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly connections: ConnectionRegistry,
  ) {}

  /**
   * Revokes a token (by `jti`) or every current token of a user, on every
   * node. `expiresAt` (ms since the epoch, the token's `exp` × 1000) lets a
   * token revocation be forgotten when the token dies; 24 hours otherwise.
   */
  async revoke(target: { tokenId?: string; userId?: string; expiresAt?: number }): Promise<void> {
    const { tokenId, userId, expiresAt } = target;
    if (!tokenId && !userId) throw new Error('revoke needs a tokenId or a userId');
    const at = Date.now();
    await this.engine.command({
      kind: 'revoke',
      ...(tokenId ? { tokenId } : {}),
      ...(userId ? { userId } : {}),
      at,
      expiresAt: userId || expiresAt === undefined ? at + REVOCATION_TTL_MS : expiresAt,
    });
  }

  /** Applies a revocation that reached this node, closing the connections it covers with 4003. */
  apply(command: RevokeCommand): void {
    if (command.tokenId) remember(this.tokens, command.tokenId, command.expiresAt, this.bound);
    if (command.userId) {
      // Stored revocations replayed at start-up may be older than one already applied: keep the latest.
      const at = Math.max(command.at, this.users.get(command.userId) ?? 0);
      remember(this.users, command.userId, at, this.bound);
    }
    const grace = this.options.shutdown.graceMs;
    // A token id may belong to any user, so it needs the full scan.
    const candidates = command.tokenId
      ? this.connections.all()
      : this.connections.ofUser(command.userId ?? '');
    for (const connection of [...candidates]) {
      if (this.isRevoked(connection.principal)) connection.close(CloseCode.Revoked, grace);
    }
  }

  isRevoked(principal: Principal): boolean {
    if (principal.userId === null) return false;
    const now = Date.now();
    if (principal.tokenId !== undefined && isLive(this.tokens, principal.tokenId, now)) return true;
    const revokedAt = this.users.get(principal.userId);
    if (revokedAt === undefined || !isLive(this.users, principal.userId, now - REVOCATION_TTL_MS)) {
      return false;
    }
    // iat has one-second resolution: a token from the revocation's own second is revoked too.
    return principal.issuedAt === undefined || principal.issuedAt <= revokedAt;
  }

  get size(): number {
    return this.tokens.size + this.users.size;
  }

  private get bound(): number {
    return this.options.limits.maxTrackedKeys;
  }
}

/** Whether the entry's time is still ahead of `now`; an entry behind it is dropped. */
function isLive(table: Map<string, number>, key: string, now: number): boolean {
  const time = table.get(key);
  if (time === undefined) return false;
  if (time > now) return true;
  table.delete(key);
  return false;
}

function remember(table: Map<string, number>, key: string, value: number, bound: number): void {
  table.delete(key);
  table.set(key, value);
  if (table.size > bound) table.delete(table.keys().next().value as string);
}
