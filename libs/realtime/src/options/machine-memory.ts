import { totalmem } from 'node:os';

const MiB = 1024 * 1024;
/** History is a recovery cache: a sixteenth of the machine, between these bounds. */
const HISTORY_SHARE = 16;
const MIN_HISTORY_BYTES = 16 * MiB;
const MAX_HISTORY_BYTES = 1024 * MiB;

/**
 * The memory this process may use: the machine's, or its container's when a
 * cgroup limits it (Node reports no limit as a number larger than the machine).
 */
export function machineMemoryBytes(): number {
  const constrained = process.constrainedMemory?.() || Infinity;
  return Math.min(constrained, totalmem());
}

/** Default `history.maxTotalBytes`: sized for the machine, read once at start-up. */
export function defaultHistoryTotalBytes(memory = machineMemoryBytes()): number {
  const share = Math.floor(memory / HISTORY_SHARE);
  return Math.min(MAX_HISTORY_BYTES, Math.max(MIN_HISTORY_BYTES, share));
}
