import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TestClient } from './ws-client';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

/** Resident memory of a process in bytes (VmRSS of /proc/<pid>/status). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib) * 1024;
}

/**
 * CPU time a process has used, in ms (user + system, all its threads, GC
 * included). Unlike wall-clock time it does not grow when other processes
 * take the machine's cores.
 */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [utime, stime] = [Number(fields[11]), Number(fields[12])];
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** CPU time this process spends running `work`, in ms. */
export function localCpuMs(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** The `p`th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Each client pings, one request at a time and `gapMs` apart, until `done()`
 * holds or it has sent `perClient` pings; resolves with every round trip in
 * ms. A ping still unanswered at `deadline` counts with the time it has
 * waited so far.
 */
export async function pingRoundTrips(
  clients: readonly TestClient[],
  done: () => boolean,
  perClient: number,
  deadline: number,
  gapMs = 0,
): Promise<number[]> {
  const roundTrips: number[] = [];
  await Promise.all(
    clients.map(async (client) => {
      for (let i = 0; i < perClient && !done() && Date.now() < deadline; i++) {
        const sent = performance.now();
        try {
          await client.request('ping', {}, Math.min(30_000, Math.max(1, deadline - Date.now())));
        } catch {
          roundTrips.push(performance.now() - sent);
          return;
        }
        roundTrips.push(performance.now() - sent);
        if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      }
    }),
  );
  return roundTrips;
}

/**
 * A client text frame built once: masked with the all-zero key (RFC 6455
 * lets the client choose any), so sending it again costs the client no
 * masking. A flood then loads the server, not the test process. Given in
 * parts, the frame is the parts in order, and a Buffer part is sent as is,
 * never copied (a large payload shared by many frames).
 */
export function clientFrame(...parts: Array<string | Buffer>): Buffer[] {
  const buffers = parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part));
  const length = buffers.reduce((sum, part) => sum + part.length, 0);
  const header = length < 126 ? 2 : length <= 0xffff ? 4 : 10;
  const head = Buffer.alloc(header + 4);
  head[0] = 0x81;
  if (header === 2) {
    head[1] = 0x80 | length;
  } else if (header === 4) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(length, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(length), 2);
  }
  return [head, ...buffers];
}

/** Writes a pre-built frame `count` times on the client's TCP socket (the client sends nothing else meanwhile). */
export function flood(client: TestClient, frame: Buffer[], count: number): void {
  const socket = (client.socket as unknown as { _socket: Socket })._socket;
  socket.cork();
  for (let i = 0; i < count; i++) for (const part of frame) socket.write(part);
  process.nextTick(() => socket.uncork());
}
