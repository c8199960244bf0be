// Preloaded into every benchmarked server (`node --expose-gc --require bench/probe.cjs ...`) so
// the harness can measure it from outside without touching the server's code paths.
// It only answers two IPC requests:
//   { cmd: 'bench:gc' }  -> two full GCs, then the V8 heap in use
//   { cmd: 'bench:cpu' } -> process.cpuUsage() (all threads, microseconds)
// RSS is read by the harness from /proc instead: process.memoryUsage() opens /proc/self/status,
// which fails with EMFILE when the server sits at its open-file limit.
'use strict';

const v8 = require('node:v8');

process.on('message', (msg) => {
  if (!msg || typeof msg.cmd !== 'string' || !msg.cmd.startsWith('bench:')) return;
  const reply = { rpcId: msg.rpcId };
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
