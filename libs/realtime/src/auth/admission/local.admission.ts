import type { Socket } from 'node:net';
import type { ResolvedRealtimeOptions } from '../../options/resolved-options';
import { FixedWindowStorage } from '../fixed-window.storage';
import {
  Admission,
  type AdmissionRefusal,
  type AdmissionRequest,
  type MaybePromise,
} from './admission.port';
import { ConnectionTally, type HeldSlot } from './connection-tally';

/** A slot frees when someone disconnects: worth retrying soon, with jitter on the client. */
export const CAPACITY_RETRY_SEC = 5;
const CONNECT_RATE = 'connect';

/**
 * Admission counted in this process: the memory engine's, and Redis mode's
 * fallback while Redis is unreachable. Synchronous: no promise on the
 * handshake's path.
 */
export class LocalAdmission extends Admission {
  /** The connect rate's own window table; per-message rates live in another (WsThrottlerGuard). */
  private readonly attempts: FixedWindowStorage;
  protected readonly tally: ConnectionTally;

  constructor(protected readonly options: ResolvedRealtimeOptions) {
    super();
    this.attempts = new FixedWindowStorage(options);
    this.tally = new ConnectionTally((slot) => this.released(slot));
  }

  countAttempt(ip: string): AdmissionRefusal | undefined {
    const { connectRate, connectWindowMs } = this.options.limits;
    const { isBlocked } = this.attempts.hit(
      `${CONNECT_RATE}:${ConnectionTally.ipKey(ip)}`,
      connectWindowMs,
      connectRate,
    );
    return isBlocked ? rateRefusal(connectWindowMs) : undefined;
  }

  reserve(socket: Socket, request: AdmissionRequest): MaybePromise<AdmissionRefusal | undefined> {
    const slot = slotOf(request);
    const refusal = this.checkLocally(slot);
    if (refusal === undefined) this.tally.hold(socket, slot);
    return refusal;
  }

  /** The limits against this process's own slots. */
  protected checkLocally(slot: HeldSlot): AdmissionRefusal | undefined {
    const { maxConnectionsPerIp, maxConnectionsPerUser } = this.options.limits;
    if (this.tally.count(slot.ip) >= maxConnectionsPerIp && slot.ip !== null) return ipRefusal();
    if (this.tally.count(slot.user) >= maxConnectionsPerUser && slot.user !== null) {
      return userRefusal();
    }
    return undefined;
  }

  /** A slot was given back (its socket closed). */
  protected released(_slot: HeldSlot): void {}

  onApplicationShutdown(): void {
    this.attempts.onApplicationShutdown();
  }
}

export function slotOf({ ip, userId, exempt }: AdmissionRequest): HeldSlot {
  return {
    ip: exempt ? null : ConnectionTally.ipKey(ip),
    user: userId === null ? null : ConnectionTally.userKey(userId),
  };
}

export function rateRefusal(windowMs: number): AdmissionRefusal {
  return {
    status: 429,
    reason: 'too many connection attempts',
    retryAfterSec: Math.ceil(windowMs / 1000),
  };
}

export function ipRefusal(): AdmissionRefusal {
  return {
    status: 429,
    reason: 'too many connections from this address',
    retryAfterSec: CAPACITY_RETRY_SEC,
  };
}

export function userRefusal(): AdmissionRefusal {
  return {
    status: 429,
    reason: 'too many connections for this user',
    retryAfterSec: CAPACITY_RETRY_SEC,
  };
}
