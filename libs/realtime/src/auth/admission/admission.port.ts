import type { Socket } from 'node:net';

/** A refused admission, turned into an HTTP status by the handshake. */
export interface AdmissionRefusal {
  status: 429;
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

export type MaybePromise<T> = T | Promise<T>;

/**
 * Who may open one more connection: the connect rate per IP and the open
 * connections per IP and per user. `countAttempt` runs first, cheaply, on
 * every attempt; `reserve` runs once the user is known and holds a slot from
 * before the upgrade until `socket` closes (refused handshake, failed upgrade,
 * closed connection alike). Memory mode counts this process
 * (LocalAdmission); Redis mode counts the cluster (RedisAdmission).
 */
export abstract class Admission {
  /** Counts a connection attempt from `ip` toward the connect rate of this process. */
  abstract countAttempt(ip: string): AdmissionRefusal | undefined;

  /** Reserves a slot for the request, released when `socket` closes; or the refusal. */
  abstract reserve(
    socket: Socket,
    request: AdmissionRequest,
  ): MaybePromise<AdmissionRefusal | undefined>;
}
