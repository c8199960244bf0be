import { Inject, Injectable } from '@nestjs/common';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode, ErrorCode, RealtimeException } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { ConnectionRegistry } from '../registry/connection.registry';
import { CAPACITY_RETRY_SEC, HandshakeRefusal } from './handshake-refusal';
import type { Principal } from './principal';
import { RevocationService } from './revocation.service';

/** Why a principal may not (or may no longer) hold a connection. */
export type SessionProblem = 'expired' | 'revoked' | 'user-limit';

const MESSAGES: Record<SessionProblem, string> = {
  expired: 'token expired',
  revoked: 'token revoked',
  'user-limit': 'too many connections for this user',
};

/**
 * The one owner of the rules a session lives by: token expiry (with the clock
 * tolerance), revocation, and the per-user connection cap. It answers with a
 * reason; callers map it to a HandshakeRefusal (before the upgrade) or a
 * RealtimeException and a close code (on an open connection).
 */
@Injectable()
export class SessionRules {
  private readonly toleranceMs: number;
  private readonly maxPerUser: number;

  constructor(
    @Inject(REALTIME_OPTIONS) options: ResolvedRealtimeOptions,
    private readonly revocations: RevocationService,
    private readonly connections: ConnectionRegistry,
  ) {
    this.toleranceMs = options.jwt.clockToleranceSec * 1000;
    this.maxPerUser = options.limits.maxConnectionsPerUser;
  }

  /** `joining`: the principal would take one more connection of its user. */
  problem(principal: Principal, joining = false, now = Date.now()): SessionProblem | undefined {
    if (principal.expiresAt !== null && principal.expiresAt + this.toleranceMs <= now) {
      return 'expired';
    }
    if (this.revocations.isRevoked(principal)) return 'revoked';
    return joining ? this.joinProblem(principal) : undefined;
  }

  /** The per-user cap alone: whether one more connection of this principal's user fits. */
  joinProblem(principal: Principal): 'user-limit' | undefined {
    if (principal.userId === null) return undefined;
    return this.connections.countForUser(principal.userId) >= this.maxPerUser
      ? 'user-limit'
      : undefined;
  }

  /** Milliseconds until the token stops being accepted; undefined when it never expires. */
  msLeft(principal: Principal, now = Date.now()): number | undefined {
    if (principal.expiresAt === null) return undefined;
    return principal.expiresAt + this.toleranceMs - now;
  }
}

export function handshakeRefusalFor(problem: SessionProblem): HandshakeRefusal {
  return problem === 'user-limit'
    ? new HandshakeRefusal(429, MESSAGES[problem], CAPACITY_RETRY_SEC)
    : new HandshakeRefusal(401, MESSAGES[problem]);
}

export function realtimeExceptionFor(problem: SessionProblem): RealtimeException {
  return new RealtimeException(ErrorCode.Unauthorized, MESSAGES[problem]);
}

/** How an open connection ends when its session breaks a rule. */
export function closeCodeFor(problem: 'expired' | 'revoked'): CloseCode {
  return problem === 'expired' ? CloseCode.TokenExpired : CloseCode.Revoked;
}
