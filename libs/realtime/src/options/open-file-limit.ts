import { readFileSync } from 'node:fs';

const FALLBACK_OPEN_FILES = 10_240;
/** File descriptors kept back for the HTTP server, outbound connections, logs and the app's own work. */
const MIN_RESERVE = 256;
const RESERVE_FRACTION = 0.05;

/**
 * Each socket holds one file descriptor. Clients past the process limit would
 * get a reset instead of a clean 503, so the default connection cap stays under
 * RLIMIT_NOFILE (read once at start-up, never on a path that serves clients).
 */
export function defaultMaxConnections(limitsFile = '/proc/self/limits'): number {
  const openFiles = readSoftOpenFileLimit(limitsFile) ?? FALLBACK_OPEN_FILES;
  const reserve = Math.max(MIN_RESERVE, Math.ceil(openFiles * RESERVE_FRACTION));
  return Math.max(1, openFiles - reserve);
}

/** File descriptors left for everything but the HTTP server's sockets (files, logs, Redis, DNS). */
const SOCKET_RESERVE = 64;

/**
 * The cap on the HTTP server's sockets (HTTP and WebSocket alike): below
 * RLIMIT_NOFILE, so that accepting one more socket never takes the last
 * descriptors the process needs for anything else.
 */
export function defaultMaxSockets(limitsFile = '/proc/self/limits'): number {
  const openFiles = readSoftOpenFileLimit(limitsFile) ?? FALLBACK_OPEN_FILES;
  return Math.max(1, openFiles - SOCKET_RESERVE);
}

function readSoftOpenFileLimit(limitsFile: string): number | undefined {
  try {
    const line = readFileSync(limitsFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    const value = Number(soft);
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}
