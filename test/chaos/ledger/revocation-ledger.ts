import type { Violations } from './violations';

interface Revocation {
  user: string;
  /** When the revoke request was sent and when its 202 arrived. */
  requestedAt: number;
  confirmedAt: number;
}

/** How a client of a revoked user ended: a 4003 close or a 401 refusal, and when. */
interface Ending {
  at: number;
  code: number;
  status?: number;
}

export interface RevocationTotals {
  users: number;
  /** Clients of revoked users that ended with 4003 or 401. */
  clientsClosed: number;
  /** The slowest ending after the revoke's 202 (ms), where no fault was in the way. */
  slowestMs: number;
  /** The slowest ending where a fault delayed it (its bound counted from the fault's end). */
  slowestAfterFaultMs: number;
}

/** By when a client must have ended; `faulted` when a fault kept its instance from hearing in time. */
export interface RevocationBound {
  by: number;
  faulted: boolean;
}

/**
 * Revocations (docs/guarantees.md): every client of a revoked user ends
 * (4003, or 401 on its next handshake) within the documented bound after
 * the revoke returned, that bound counted from the end of any fault that
 * kept the client's instance from hearing it; nobody else is revoked.
 */
export class RevocationLedger {
  private readonly revocations = new Map<string, Revocation>();
  /** Users whose revoke was sent, from its first attempt (it may apply before its 202 arrives). */
  private readonly requests = new Set<string>();
  private readonly endings = new Map<string, Ending>();

  constructor(private readonly violations: Violations) {}

  /**
   * A revoke of `user` is on its way: the server may apply it, and close the
   * user's clients, before its answer reaches the workload (or with the answer
   * lost), so their endings are expected from now on.
   */
  requested(user: string): void {
    this.requests.add(user);
  }

  revoked(user: string, requestedAt: number, confirmedAt: number): void {
    this.revocations.set(user, { user, requestedAt, confirmedAt });
  }

  isRevoked(user: string): boolean {
    return this.revocations.has(user);
  }

  /** When the revoke of `user` returned. */
  confirmedAt(user: string): number | undefined {
    return this.revocations.get(user)?.confirmedAt;
  }

  /** A client stopped for good with a close code or a refusal; `user` owns it. */
  ended(client: string, user: string, code: number, status: number | undefined, at: number): void {
    const revokedEnding = code === 4003 || status === 401;
    if (!revokedEnding) return;
    if (!this.revocations.has(user) && !this.requests.has(user)) {
      this.violations.add(
        'unexpected close',
        `${client} of ${user} ended with ${status ?? code}, never revoked`,
      );
      return;
    }
    if (!this.endings.has(client)) this.endings.set(client, { at, code, status });
  }

  /**
   * `deadline(client, revocation)`: by when the client must have ended
   * (the caller knows the faults and where the client was connected).
   * `clientsOf(user)`: the user's clients.
   */
  finish(
    clientsOf: (user: string) => readonly string[],
    deadline: (client: string, requestedAt: number, confirmedAt: number) => RevocationBound,
  ): RevocationTotals {
    const totals: RevocationTotals = {
      users: this.revocations.size,
      clientsClosed: 0,
      slowestMs: 0,
      slowestAfterFaultMs: 0,
    };
    for (const r of this.revocations.values()) {
      for (const client of clientsOf(r.user)) {
        const ending = this.endings.get(client);
        if (!ending) {
          this.violations.add(
            'revocation not applied in time',
            `${client} of ${r.user} never ended`,
          );
          continue;
        }
        if (ending.at < r.requestedAt) {
          this.violations.add(
            'unexpected close',
            `${client} of ${r.user} ended before its revocation`,
          );
          continue;
        }
        totals.clientsClosed++;
        const { by, faulted } = deadline(client, r.requestedAt, r.confirmedAt);
        const slowest = faulted ? 'slowestAfterFaultMs' : 'slowestMs';
        totals[slowest] = Math.max(totals[slowest], ending.at - r.confirmedAt);
        if (ending.at > by) {
          this.violations.add(
            'revocation not applied in time',
            `${client} of ${r.user} ended ${ending.at - r.confirmedAt} ms after the revoke (bound ${by - r.confirmedAt} ms)`,
          );
        }
      }
    }
    return totals;
  }
}
