// Load-generator process: holds a share of the subscriber sockets and counts what they receive.
// Driven over IPC by bench/run.mjs; every command answers once, every wait has a deadline.
//
//   connect  { ports, protocol, count, auth, secret, userPrefix, userOffset, subscribe, ready,
//              concurrency, sampleEvery, timeoutMs, subscribeFrame? }  opens `count` more
//              sockets, spread round robin over the server's `ports` (its instances), resolves
//              when each is ready (got `ready` event) or failed; with `subscribeFrame` (the data
//              of a `subscribe` request, e.g. { topics, presence: true }) each socket sends it on
//              its `connected` frame instead of subscribing with `?subscribe=`
//   arm      { messages }                           starts a run: every ready socket must get
//                                                   `messages` more `message` frames
//   wait     { timeoutMs }                          resolves when the run is complete (or timeout)
//   closeAll { timeoutMs }                          closes every socket
//   stormArm { port, jitterMs, deadlineMs }          a reconnect storm: every ready socket on
//                                                   `port` that closes reconnects with the
//                                                   client's backoff (full jitter from `jitterMs`,
//                                                   doubling per refused attempt, at most 30 s)
//                                                   and subscribes again with `since` its last
//                                                   offset
//   stormWait { timeoutMs }                          resolves when each of them is subscribed again
//
// Counting is the hot path: a `message` frame is recognized by its first bytes and only sampled
// sockets (1 in `sampleEvery`) parse it, to read the publisher's `sentAt` for latency.
import { signToken } from '../lib/jwt.mjs';
import { wallNow } from '../lib/proc.mjs';
import { protocols } from './protocols.mjs';
import { RawWebSocket } from './rawws.mjs';

const HOST = '127.0.0.1';
const MAX_LATENCY_SAMPLES = 200_000;

/** Live sockets (connecting or ready). */
const conns = new Set();
let readyCount = 0;
let socketSeq = 0;
let closingAll = false;
/** Failure reasons -> count, reported and cleared with each command's answer. */
let errors = new Map();
/** The current fan-out run, or null. */
let run = null;
/** The current reconnect storm, or null. */
let storm = null;
let slowPathFrames = 0;
/** `presence_diff` frames received, reported and cleared with each `connect` answer. */
let presenceDiffs = 0;
let unexpectedMessages = 0;

function noteError(reason) {
  errors.set(reason, (errors.get(reason) ?? 0) + 1);
}

function takeErrors() {
  const out = Object.fromEntries(errors);
  errors = new Map();
  return out;
}

const handler = {
  onOpen() {},

  onText(conn, buf, start, end) {
    const prefix = conn.proto.messagePrefix;
    if (
      end - start > prefix.length &&
      buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0
    ) {
      onMessage(conn, buf, start, end, null);
      return;
    }
    const diff = conn.proto.diffPrefix;
    if (
      diff &&
      end - start > diff.length &&
      buf.compare(diff, 0, diff.length, start, start + diff.length) === 0
    ) {
      presenceDiffs += 1;
      return;
    }
    const text = buf.toString('utf8', start, end);
    let frame;
    try {
      frame = conn.proto.decode(conn, text);
    } catch {
      noteError(`unparseable frame: ${text.slice(0, 80)}`);
      return;
    }
    if (!frame) return;
    if (frame.event === 'subscribed') conn.offset = frame.data?.topics?.[0]?.offset ?? conn.offset;
    if (conn.stormSpec) {
      stormFrame(conn, frame);
      return;
    }
    if (frame.event === 'connected' && conn.subscribeFrame && !conn.ready) {
      conn.sendText(conn.proto.encode('subscribe', conn.subscribeFrame));
    }
    if (frame.event === 'message') {
      // Same message, different key order or spacing: correct but slower; reported.
      slowPathFrames += 1;
      onMessage(conn, buf, start, end, text);
    } else if (frame.event === conn.readyEvent && !conn.ready) {
      markReady(conn);
    } else if (frame.event === 'error') {
      const d = frame.data ?? {};
      const reason = `error frame: ${d.code ?? ''} ${d.message ?? JSON.stringify(d)}`.trim();
      if (conn.ready) noteError(reason);
      else conn.fail(reason);
    }
  },

  onClose(conn, reason) {
    conns.delete(conn);
    clearTimeout(conn.timer);
    if (storm && !closingAll && (conn.stormSpec || (conn.ready && conn.port === storm.port))) {
      if (conn.ready) readyCount -= 1;
      stormLost(conn);
      return;
    }
    if (conn.ready) {
      readyCount -= 1;
      if (!closingAll) noteError(`closed while subscribed: ${reason ?? 'clean close'}`);
      if (run && !closingAll) {
        // This socket will get nothing more: stop expecting it, so the run can still finish.
        run.closedDuringRun += 1;
        run.expected -= Math.max(0, run.messages - conn.runCount);
        checkRunDone();
      }
    } else {
      conn.settle?.(false, reason ?? 'closed before ready');
    }
  },
};

function onMessage(conn, buf, start, end, text) {
  if (!run) {
    unexpectedMessages += 1;
    return;
  }
  conn.runCount += 1;
  run.received += 1;
  if (conn.sampled && run.latencies.length < MAX_LATENCY_SAMPLES) {
    const payload = conn.proto.payloadOf(text ?? buf.toString('utf8', start, end));
    if (typeof payload?.sentAt === 'number') {
      run.latencies.push(Math.round((wallNow() - payload.sentAt) * 100) / 100);
    }
  }
  checkRunDone();
}

function checkRunDone() {
  if (run && !run.doneAt && run.received >= run.expected) {
    run.doneAt = wallNow();
    for (const resolve of run.waiters) resolve();
    run.waiters = [];
  }
}

function markReady(conn) {
  conn.ready = true;
  readyCount += 1;
  clearTimeout(conn.timer);
  conn.settle?.(true);
}

async function connect(opts) {
  const proto = protocols[opts.protocol];
  if (!proto) throw new Error(`unknown protocol ${opts.protocol}`);
  // Tokens are signed before the clock starts: signing is the client's cost, not the server's.
  const tokens = [];
  for (let i = 0; i < opts.count; i++) {
    tokens.push(
      opts.auth ? signToken(opts.secret, `${opts.userPrefix}${opts.userOffset + i}`) : null,
    );
  }
  const perSocketTimeout = Math.min(opts.timeoutMs, 15_000);

  return new Promise((resolve) => {
    let next = 0;
    let inFlight = 0;
    let opened = 0;
    let failed = 0;
    presenceDiffs = 0;
    const startedAt = wallNow();
    const deadline = setTimeout(finish, opts.timeoutMs);

    function finish() {
      clearTimeout(deadline);
      resolve({
        opened,
        failed,
        startedAt,
        finishedAt: wallNow(),
        ready: readyCount,
        presenceDiffs,
        errors: takeErrors(),
      });
    }

    function launch() {
      while (inFlight < opts.concurrency && next < opts.count) {
        const token = tokens[next];
        const port = opts.ports[(opts.userOffset + next) % opts.ports.length];
        next += 1;
        inFlight += 1;
        const conn = new RawWebSocket({
          host: HOST,
          port,
          path: proto.path({
            token: proto.name === 'ws' ? token : null,
            subscribe: opts.subscribe,
          }),
          handler,
        });
        conn.proto = proto;
        conn.token = token;
        conn.port = port;
        conn.topic = opts.subscribe;
        conn.subscribeFrame = opts.subscribeFrame ?? null;
        conn.readyEvent = opts.ready;
        conn.ready = false;
        conn.runCount = 0;
        conn.sampled = socketSeq % opts.sampleEvery === 0;
        socketSeq += 1;
        conn.timer = setTimeout(
          () => conn.fail(`no '${opts.ready}' within ${perSocketTimeout} ms`),
          perSocketTimeout,
        );
        conn.settle = (ok, reason) => {
          conn.settle = null;
          inFlight -= 1;
          if (ok) opened += 1;
          else {
            failed += 1;
            noteError(reason);
          }
          if (opened + failed === opts.count) finish();
          else launch();
        };
        conns.add(conn);
      }
    }

    if (opts.count === 0) finish();
    else launch();
  });
}

function arm({ messages }) {
  let sockets = 0;
  for (const conn of conns) {
    conn.runCount = 0;
    if (conn.ready) sockets += 1;
  }
  unexpectedMessages = 0;
  slowPathFrames = 0;
  run = {
    messages,
    expected: sockets * messages,
    received: 0,
    closedDuringRun: 0,
    latencies: [],
    doneAt: null,
    waiters: [],
  };
  return { sockets, expected: run.expected };
}

async function wait({ timeoutMs }) {
  if (!run) throw new Error('wait without arm');
  const current = run;
  if (!current.doneAt) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      current.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  run = null;
  let incompleteSockets = 0;
  for (const conn of conns)
    if (conn.ready && conn.runCount < current.messages) incompleteSockets += 1;
  return {
    received: current.received,
    expected: current.expected,
    complete: current.doneAt !== null,
    doneAt: current.doneAt,
    closedDuringRun: current.closedDuringRun,
    incompleteSockets,
    slowPathFrames,
    latencies: current.latencies,
    errors: takeErrors(),
  };
}

async function closeAll({ timeoutMs }) {
  closingAll = true;
  const count = conns.size;
  for (const conn of conns) conn.destroy();
  const deadline = Date.now() + timeoutMs;
  while (conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  closingAll = false;
  const left = conns.size;
  conns.clear();
  readyCount = 0;
  return { closed: count - left, left, unexpectedMessages, errors: takeErrors() };
}

/** A socket of the storm closed (or its reconnect failed): reconnect it after a wait. */
function stormLost(conn) {
  const spec = conn.stormSpec ?? {
    port: conn.port,
    proto: conn.proto,
    token: conn.token,
    topic: conn.topic,
    offset: conn.offset,
    attempt: 0,
  };
  if (!conn.stormSpec) storm.lost += 1;
  if (conn.stormSpec?.done) return;
  if (wallNow() > storm.deadline) return;
  spec.attempt += 1;
  if (spec.attempt > 1) storm.retries += 1;
  // The project client's backoff (libs/realtime-client/src/backoff.ts): full jitter, a uniform
  // wait in [0, min(30 s, initial·2^attempt)), so clients dropped together come back spread out.
  const wait = Math.random() * Math.min(30_000, storm.jitterMs * 2 ** (spec.attempt - 1));
  const timer = setTimeout(() => {
    storm?.timers.delete(timer);
    if (storm) reconnect(spec);
  }, wait);
  storm.timers.add(timer);
}

function reconnect(spec) {
  const conn = new RawWebSocket({
    host: HOST,
    port: spec.port,
    path: spec.proto.path({ token: spec.token, subscribe: null }),
    handler,
  });
  conn.proto = spec.proto;
  conn.token = spec.token;
  conn.port = spec.port;
  conn.topic = spec.topic;
  conn.offset = spec.offset;
  conn.stormSpec = spec;
  conn.ready = false;
  conn.runCount = 0;
  conns.add(conn);
}

/** Frames of a reconnecting socket: `connected` → subscribe with `since`; `subscribed` → done. */
function stormFrame(conn, frame) {
  const spec = conn.stormSpec;
  if (frame.event === 'connected' && !spec.subscribing) {
    spec.subscribing = true;
    const since = spec.offset ? { [spec.topic]: spec.offset } : undefined;
    conn.sendText(conn.proto.encode('subscribe', { topics: [spec.topic], since, ref: 'storm' }));
  } else if (frame.event === 'subscribed' && !spec.done) {
    spec.done = true;
    conn.ready = true;
    readyCount += 1;
    storm.recovered += 1;
    if (frame.data?.topics?.[0]?.recovered === true) storm.recoveredWithHistory += 1;
    if (storm.recovered >= storm.expected && !storm.doneAt) {
      storm.doneAt = wallNow();
      for (const resolve of storm.waiters) resolve();
      storm.waiters = [];
    }
  } else if (frame.event === 'error') {
    noteError(`storm: error frame ${frame.data?.code ?? ''}`);
  }
}

function stormArm({ port, jitterMs, deadlineMs }) {
  let expected = 0;
  for (const conn of conns) if (conn.ready && conn.port === port) expected += 1;
  storm = {
    port,
    jitterMs,
    deadline: wallNow() + deadlineMs,
    expected,
    lost: 0,
    recovered: 0,
    recoveredWithHistory: 0,
    retries: 0,
    doneAt: expected === 0 ? wallNow() : null,
    waiters: [],
    timers: new Set(),
  };
  return { expected };
}

async function stormWait({ timeoutMs }) {
  if (!storm) throw new Error('stormWait without stormArm');
  const current = storm;
  if (!current.doneAt) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      current.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  for (const timer of current.timers) clearTimeout(timer);
  storm = null;
  const { expected, lost, recovered, recoveredWithHistory, retries, doneAt } = current;
  return { expected, lost, recovered, recoveredWithHistory, retries, doneAt, errors: takeErrors() };
}

const commands = { connect, arm, wait, closeAll, stormArm, stormWait };

process.on('message', async (msg) => {
  const command = commands[msg?.cmd];
  if (!command) return;
  try {
    process.send({ rpcId: msg.rpcId, ...(await command(msg)) });
  } catch (err) {
    process.send({ rpcId: msg.rpcId, error: err.stack ?? String(err) });
  }
});

// Orphaned (harness killed): leave at once, dropping every socket.
process.on('disconnect', () => process.exit(0));
// Stopped by the harness: exit normally, so --cpu-prof (BENCH_WORKER_PROF) gets written.
process.on('SIGTERM', () => process.exit(0));
