import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

export type AdmissionMode = 'cluster' | 'local';

/** A refused admission: the handshake answers 429 with this reason. */
export interface AdmissionRefusal {
  reason: string;
  /** Seconds a refused client should wait: sent as Retry-After. */
  retryAfterSec: number;
}

export interface AdmissionRequest {
  ip: string;
  /** null for an anonymous connection: it counts toward its IP only. */
  userId: string | null;
  /** An allowed IP (network.allowedIps): no per-IP count, no connect rate. */
  exempt: boolean;
}

/**
 * Admission beyond this process: whether one more connection fits the
 * cluster's connect rate per IP and open connections per IP and per user.
 * The handshake's own checks (HandshakeService: connect-rate window and
 * ConnectionRegistry counts) always run and are the whole admission of the
 * memory engine; in Redis mode RedisAdmission adds the cluster's counts, and
 * while Redis is unreachable those local checks are what remains.
 */
export abstract class Admission {
  /** `cluster` while the counts are the cluster's; `local` when only this process's checks apply. */
  abstract get mode(): AdmissionMode;

  /**
   * Reserves a slot for the request until `socket` closes (refused
   * handshake, failed upgrade, closed connection alike), or says why not.
   * Synchronous when there is nothing to wait for.
   */
  abstract reserve(
    socket: Socket,
    request: AdmissionRequest,
  ): AdmissionRefusal | undefined | Promise<AdmissionRefusal | undefined>;

  /**
   * An anonymous connection signs in (`auth`): reserves a slot of its user
   * until `socket` closes, or says why not (the user is at its cap; nothing
   * is then counted). The handshake's slot stays as it was (its IP's).
   * Synchronous when there is nothing to wait for. SessionRules' local
   * per-user check runs first and is the whole check of the memory engine.
   */
  abstract reserveUser(
    socket: WebSocket,
    userId: string,
  ): AdmissionRefusal | undefined | Promise<AdmissionRefusal | undefined>;

  /** Gives back the slot `reserveUser` reserved, when the sign-in it was for did not complete. */
  abstract releaseUser(socket: WebSocket): void;
}
