// Reads another process's resource usage from /proc (Linux), so the measured server does no work
// to report it, and machine facts for the report.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

let clockTicks;

/** Kernel clock ticks per second (`getconf CLK_TCK`), used to convert /proc/<pid>/stat times. */
export function clkTck() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Resident set size in bytes (VmRSS of /proc/<pid>/status). */
export function readRss(pid) {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

/** CPU time of all the process's threads, in microseconds: { user, system }. */
export function readCpu(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const toUs = 1e6 / clkTck();
  return { user: Number(fields[11]) * toUs, system: Number(fields[12]) * toUs };
}

/**
 * CPU time the whole machine spent in user and kernel mode (not idle, not interrupts), in
 * microseconds, summed over all CPUs. Compared with the harness's own processes, it shows how
 * much other work ran on the machine during a measurement.
 */
export function readMachineBusy() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal
  const [user, nice, system, , , irq, softirq] = fields.slice(1).map(Number);
  return ((user + nice + system + irq + softirq) * 1e6) / clkTck();
}

/** Wall clock in milliseconds with sub-millisecond resolution, comparable across processes. */
export function wallNow() {
  return performance.timeOrigin + performance.now();
}

export function machineInfo() {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) cpuModel = match[1].trim();
  } catch {
    // Keep os.cpus() answer.
  }
  let openFileLimit = null;
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    openFileLimit = Number(line?.split(/\s{2,}/)[1]) || null;
  } catch {
    // Not Linux.
  }
  return {
    cpuModel,
    nproc: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    openFileLimit,
  };
}
