// Preloaded into every benchmarked server (`node --expose-gc --require bench/probe.cjs ...`) so
// the harness can measure it from outside without touching the server's code paths.
// It only answers these IPC requests:
//   { cmd: 'bench:gc' }  -> two full GCs, then the V8 heap in use
//   { cmd: 'bench:cpu' } -> process.cpuUsage() (all threads, microseconds)
//   { cmd: 'bench:prof-start' } / { cmd: 'bench:prof-stop', file } -> a CPU profile of what runs
//     in between, written to `file` (BENCH_SERVER_PROF: the harness asks around a measured phase)
//   { cmd: 'bench:heap-snapshot', file } -> a heap snapshot (BENCH_HEAP_SNAPSHOT: after the idle
//     memory measurement)
// RSS is read by the harness from /proc instead: process.memoryUsage() opens /proc/self/status,
// which fails with EMFILE when the server sits at its open-file limit.
'use strict';

const v8 = require('node:v8');

let profiler = null;

/** Starts or stops the inspector's CPU profiler; replies when done. */
function profile(msg, reply) {
  if (msg.cmd === 'bench:prof-start') {
    const { Session } = require('node:inspector');
    profiler = new Session();
    profiler.connect();
    profiler.post('Profiler.enable', () =>
      profiler.post('Profiler.start', () => process.send(reply)),
    );
    return;
  }
  if (!profiler) return process.send({ ...reply, error: 'no profile started' });
  const session = profiler;
  profiler = null;
  session.post('Profiler.stop', (error, result) => {
    if (!error) require('node:fs').writeFileSync(msg.file, JSON.stringify(result.profile));
    session.disconnect();
    process.send(error ? { ...reply, error: String(error) } : reply);
  });
}

process.on('message', (msg) => {
  if (!msg || typeof msg.cmd !== 'string' || !msg.cmd.startsWith('bench:')) return;
  const reply = { rpcId: msg.rpcId };
  if (msg.cmd === 'bench:prof-start' || msg.cmd === 'bench:prof-stop') return profile(msg, reply);
  if (msg.cmd === 'bench:heap-snapshot') {
    reply.file = v8.writeHeapSnapshot(msg.file);
    return process.send(reply);
  }
  if (msg.cmd === 'bench:gc') {
    if (typeof global.gc === 'function') {
      // Twice: the first pass may only queue finalizers and weak callbacks.
      global.gc();
      global.gc();
    }
    const heap = v8.getHeapStatistics();
    reply.heapUsed = heap.used_heap_size;
    reply.external = heap.external_memory;
  } else if (msg.cmd === 'bench:cpu') {
    reply.cpu = process.cpuUsage();
  } else {
    reply.error = `unknown probe command ${msg.cmd}`;
  }
  process.send(reply);
});

// A server whose harness died (kill -9, crash) must not linger holding its port.
process.on('disconnect', () => process.exit(0));
