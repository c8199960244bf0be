/**
 * How long one admission call may wait for Redis before it fails and its
 * handshakes fall back to local counts (a handshake queued behind a call
 * waits for that call first: two of these per step at most).
 */
export const ADMISSION_COMMAND_TIMEOUT_MS = 1_000;
