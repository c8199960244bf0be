// Child-process bookkeeping: every process the harness starts is registered here so that it is
// killed on exit, on SIGINT/SIGTERM and on crashes, and every IPC request has a deadline.
import { fork, spawn } from 'node:child_process';

const children = new Set();

/** Forks a Node script and registers it for cleanup. */
export function forkTracked(script, args, options) {
  const child = fork(script, args, options);
  track(child);
  return child;
}

/** Spawns a command and registers it for cleanup. */
export function spawnTracked(command, args, options) {
  const child = spawn(command, args, options);
  track(child);
  return child;
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export function stopChild(child, graceMs = 2000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Synchronous last-resort cleanup (works inside 'exit' handlers). */
export function killAllChildren() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  children.clear();
}

export function installCleanupHandlers() {
  process.once('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      console.error(`\n[bench] ${signal}: stopping children`);
      killAllChildren();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    console.error('[bench] uncaught exception:', err);
    killAllChildren();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    console.error('[bench] unhandled rejection:', err);
    killAllChildren();
    process.exit(1);
  });
}

/**
 * Request/response over a child's IPC channel. Requests carry an `rpcId`; the child echoes it in
 * its reply. A reply with `error` rejects. Every request has a timeout, and all pending requests
 * reject when the child exits.
 */
export function createRpc(child, label) {
  let nextId = 1;
  const pending = new Map();

  child.on('message', (msg) => {
    const entry = msg && pending.get(msg.rpcId);
    if (!entry) return;
    pending.delete(msg.rpcId);
    clearTimeout(entry.timer);
    if (msg.error) entry.reject(new Error(`${label}: ${msg.error}`));
    else entry.resolve(msg);
  });
  child.once('exit', (code, signal) => {
    for (const entry of pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new Error(`${label} exited (code ${code}, signal ${signal})`));
    }
    pending.clear();
  });

  return function request(message, timeoutMs) {
    return new Promise((resolve, reject) => {
      if (!child.connected) {
        reject(new Error(`${label} is not connected`));
        return;
      }
      const rpcId = nextId++;
      const timer = setTimeout(() => {
        pending.delete(rpcId);
        reject(new Error(`${label}: '${message.cmd}' timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(rpcId, { resolve, reject, timer });
      child.send({ ...message, rpcId });
    });
  };
}
