// The load-generator worker processes (bench/load/worker.mjs), seen as one pool: sockets are
// split evenly across workers, answers are merged.
import path from 'node:path';
import { createRpc, forkTracked, stopChild } from './children.mjs';
import { readCpu } from './proc.mjs';

const WORKER = path.resolve(import.meta.dirname, '../load/worker.mjs');

function split(total, parts) {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0),
  );
}

function mergeCounts(target, source) {
  for (const [key, count] of Object.entries(source ?? {})) target[key] = (target[key] ?? 0) + count;
  return target;
}

export class LoadPool {
  constructor(size) {
    // BENCH_WORKER_PROF=1 writes a CPU profile per worker to bench/results/ (diagnostics).
    const nodeArgs = process.env.BENCH_WORKER_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(import.meta.dirname, '../results')}`]
      : [];
    this.workers = Array.from({ length: size }, (_, i) => {
      const child = forkTracked(WORKER, [], {
        execArgv: nodeArgs,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      return { child, rpc: createRpc(child, `load worker ${i}`) };
    });
  }

  all(message, timeoutMs, perWorker = () => ({})) {
    return Promise.all(
      this.workers.map((w, i) => w.rpc({ ...message, ...perWorker(i) }, timeoutMs)),
    );
  }

  /**
   * Opens `count` sockets across the workers (user ids `${userPrefix}${n}`, distinct per socket).
   * Resolves { opened, failed, presenceDiffs, startedAt, finishedAt, errors }.
   */
  async connect(count, opts) {
    const shares = split(count, this.workers.length);
    let offset = opts.userOffset ?? 0;
    const offsets = shares.map((share) => {
      const start = offset;
      offset += share;
      return start;
    });
    const answers = await this.all({ cmd: 'connect', ...opts }, opts.timeoutMs + 5000, (i) => ({
      count: shares[i],
      userOffset: offsets[i],
    }));
    return {
      opened: answers.reduce((s, a) => s + a.opened, 0),
      failed: answers.reduce((s, a) => s + a.failed, 0),
      presenceDiffs: answers.reduce((s, a) => s + a.presenceDiffs, 0),
      startedAt: Math.min(...answers.map((a) => a.startedAt)),
      finishedAt: Math.max(...answers.map((a) => a.finishedAt)),
      errors: answers.reduce((acc, a) => mergeCounts(acc, a.errors), {}),
    };
  }

  /** Starts a fan-out run; resolves { sockets, expected }. */
  async arm(messages) {
    const answers = await this.all({ cmd: 'arm', messages }, 10_000);
    return {
      sockets: answers.reduce((s, a) => s + a.sockets, 0),
      expected: answers.reduce((s, a) => s + a.expected, 0),
    };
  }

  /** Waits for the armed run on every worker; merges counts, latency samples and errors. */
  async wait(timeoutMs) {
    const answers = await this.all({ cmd: 'wait', timeoutMs }, timeoutMs + 10_000);
    return {
      received: answers.reduce((s, a) => s + a.received, 0),
      expected: answers.reduce((s, a) => s + a.expected, 0),
      complete: answers.every((a) => a.complete),
      doneAt: Math.max(...answers.map((a) => a.doneAt ?? -Infinity)),
      closedDuringRun: answers.reduce((s, a) => s + a.closedDuringRun, 0),
      incompleteSockets: answers.reduce((s, a) => s + a.incompleteSockets, 0),
      slowPathFrames: answers.reduce((s, a) => s + a.slowPathFrames, 0),
      latencies: answers.flatMap((a) => a.latencies),
      errors: answers.reduce((acc, a) => mergeCounts(acc, a.errors), {}),
    };
  }

  /** Arms a reconnect storm for the sockets on `port`; resolves { expected }. */
  async stormArm(port, jitterMs, deadlineMs) {
    const answers = await this.all({ cmd: 'stormArm', port, jitterMs, deadlineMs }, 10_000);
    return { expected: answers.reduce((s, a) => s + a.expected, 0) };
  }

  /** Waits until every socket of the storm is subscribed again (or the timeout); merges counts. */
  async stormWait(timeoutMs) {
    const answers = await this.all({ cmd: 'stormWait', timeoutMs }, timeoutMs + 10_000);
    const sum = (key) => answers.reduce((s, a) => s + a[key], 0);
    return {
      expected: sum('expected'),
      lost: sum('lost'),
      recovered: sum('recovered'),
      recoveredWithHistory: sum('recoveredWithHistory'),
      retries: sum('retries'),
      complete: answers.every((a) => a.doneAt !== null),
      doneAt: Math.max(...answers.map((a) => a.doneAt ?? -Infinity)),
      errors: answers.reduce((acc, a) => mergeCounts(acc, a.errors), {}),
    };
  }

  async closeAll(timeoutMs = 15_000) {
    const answers = await this.all({ cmd: 'closeAll', timeoutMs }, timeoutMs + 5000);
    return {
      closed: answers.reduce((s, a) => s + a.closed, 0),
      left: answers.reduce((s, a) => s + a.left, 0),
      unexpectedMessages: answers.reduce((s, a) => s + a.unexpectedMessages, 0),
      errors: answers.reduce((acc, a) => mergeCounts(acc, a.errors), {}),
    };
  }

  /** CPU time of all workers together, µs (from /proc: does not disturb them). */
  cpu() {
    let total = 0;
    for (const { child } of this.workers) {
      const { user, system } = readCpu(child.pid);
      total += user + system;
    }
    return total;
  }

  stop() {
    return Promise.all(this.workers.map((w) => stopChild(w.child, 1000)));
  }
}
