import type { AdmissionRefusal } from './admission.port';

/** A slot frees when someone disconnects: worth retrying soon, with jitter on the client. */
const CAPACITY_RETRY_SEC = 5;

/** The same reasons the handshake gives for its local limits. */
export function rateRefusal(msUntilReset: number): AdmissionRefusal {
  return { reason: 'too many connection attempts', retryAfterSec: Math.ceil(msUntilReset / 1000) };
}

export const IP_REFUSAL: AdmissionRefusal = {
  reason: 'too many connections from this address',
  retryAfterSec: CAPACITY_RETRY_SEC,
};

export const USER_REFUSAL: AdmissionRefusal = {
  reason: 'too many connections for this user',
  retryAfterSec: CAPACITY_RETRY_SEC,
};
