import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { DEMO_DEFAULT_LIMITS, DemoProcess } from '../support/demo-process';
import { freePort } from '../support/free-port';
import {
  clientFrame,
  cpuMsOf,
  flood,
  localCpuMs,
  percentile,
  pingRoundTrips,
} from '../support/load';
import { sleep } from '../support/waits';
import { connect, type TestClient } from '../support/ws-client';

const ATTACKERS = 9;
const ALLOWANCE = 100;
const BYSTANDERS = 8;
/** 100 frames each in 3 s. */
const SPACING_MS = 30;
const ATTACK_MS = ALLOWANCE * SPACING_MS;
/** Bystander pings: as long a window before the attack as during it, within their message rate. */
const QUIET_PINGS = 30;
const ATTACK_PINGS = 60;
/** Independent measurements, each from addresses of its own (per-address limits). */
const ROUNDS = 3;

/** 59 KB: a 6,000-key object in `data` (refused: unknown field). */
const wideObject = `{"event":"ping","data":{"ref":"wide-object","junk":{${Array.from(
  { length: 6_000 },
  (_, i) => `"k${i}":1`,
).join(',')}}}}`;
/** 60 KB: `[{}×20000]` in `data` (refused: unknown field). */
const wideArray = `{"event":"ping","data":{"ref":"wide-array","x":[${Array(20_000).fill('{}').join(',')}]}}`;

/** CPU time JSON.parse alone takes on `frame` in this process, in ms: the median of 8 batches, warm. */
function parseCost(frame: string): number {
  const batches = Array.from({ length: 8 }, () =>
    localCpuMs(() => {
      for (let i = 0; i < 10; i++) JSON.parse(frame);
    }),
  );
  return percentile(batches, 50) / 10;
}

/**
 * The yardstick: a ws server that only JSON.parses each frame (and
 * answers a ping with a pong, anything else with an error), as a process.
 */
const PARSE_ONLY_SERVER = `
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ port: Number(process.env.PORT), path: '/ws', maxPayload: 65536 });
wss.on('connection', (socket) => {
  socket.send('{"event":"connected","data":{}}');
  socket.on('message', (raw) => {
    let frame;
    try { frame = JSON.parse(raw.toString()); } catch { frame = {}; }
    const data = frame.data ?? {};
    const event = frame.event === 'ping' && Object.keys(data).every((k) => k === 'ref') ? 'pong' : 'error';
    socket.send(JSON.stringify({ event, data: { ref: data.ref } }));
  });
});
process.stdout.write('listening');
`;

async function startParseOnly(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', PARSE_ONLY_SERVER], {
    cwd: join(__dirname, '..', '..'),
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(child.stdout as NodeJS.ReadableStream, 'data');
  return { url: `ws://127.0.0.1:${port}/ws`, stop: () => child.kill('SIGKILL') };
}

interface Round {
  serverCpuMs: number;
  quietP99: number;
  attackP99: number;
  pings: number;
}

type Connect = (localAddress: string) => Promise<TestClient>;

/**
 * Issue 18 item 1: wide JSON frames cost 20–45 ms each in the DTO transform,
 * refused or not, and nine connections from one address stalled everyone.
 * Black box, the demo as a process with its default limits.
 *
 * The CPU the server spends is what the code controls, and is measured as
 * CPU time, which other processes on the machine do not inflate. Latency is
 * wall-clock, so each round measures the bystanders as long before the
 * attack as during it, and measures the yardstick, a server that only
 * JSON.parses the same frames, right after; the best of up to three rounds
 * must be within 50 ms of quiet, or no worse than the yardstick on that
 * machine at that moment. Load from elsewhere on a shared machine then does
 * not decide the result; the server's own cost does.
 */
describe('wide frames (issue 18, item 1)', () => {
  let demo: DemoProcess;
  const frames = [clientFrame(wideObject), clientFrame(wideArray)];

  beforeAll(async () => {
    demo = await DemoProcess.start(DEMO_DEFAULT_LIMITS);
    // A warm server: the code paths compiled, as they are once it has served any traffic.
    const warmUp = await demo.connect({}, { localAddress: '127.0.3.1' });
    for (let i = 0; i < 20; i++) frames.forEach((frame) => flood(warmUp, frame, 1));
    await warmUp.waitForCount('error', 40, 60_000);
    await warmUp.close();
  });
  afterAll(() => demo?.stop());

  /** Bystanders pinging before and during nine connections' flood; `pid` for the CPU it cost. */
  async function measure(connectTo: Connect, r: number, pid?: number): Promise<Round> {
    const attackers = await Promise.all(
      Array.from({ length: ATTACKERS }, () => connectTo(`127.0.1.${r}`)),
    );
    const bystanders: TestClient[] = [];
    for (let i = 0; i < BYSTANDERS; i++) bystanders.push(await connectTo(`127.0.2.${r}`));
    const quiet = await pingRoundTrips(
      bystanders,
      () => false,
      QUIET_PINGS,
      Date.now() + 30_000,
      ATTACK_MS / QUIET_PINGS,
    );

    const cpuBefore = pid === undefined ? 0 : cpuMsOf(pid);
    const answered = () =>
      attackers.every((attacker) => attacker.framesOf('error').length === ALLOWANCE);
    // The whole allowance within a few seconds: a frame from each attacker every SPACING_MS.
    // Pre-built and written straight to the sockets, the flood costs this process nothing.
    let sent = 0;
    const sender = setInterval(() => {
      for (const attacker of attackers) flood(attacker, frames[sent % 2], 1);
      if (++sent === ALLOWANCE) clearInterval(sender);
    }, SPACING_MS);
    const deadline = Date.now() + 40_000;
    const underAttack = await pingRoundTrips(
      bystanders,
      answered,
      ATTACK_PINGS,
      deadline,
      ATTACK_MS / ATTACK_PINGS,
    );
    while (!answered() && Date.now() < deadline) await sleep(20);
    clearInterval(sender);
    const serverCpuMs = pid === undefined ? 0 : cpuMsOf(pid) - cpuBefore;

    for (const attacker of attackers) {
      const errors = attacker.framesOf('error').map((f) => f.data);
      expect(errors).toHaveLength(ALLOWANCE);
      for (const [i, error] of errors.entries()) {
        expect(error).toMatchObject({ ref: i % 2 === 0 ? 'wide-object' : 'wide-array' });
      }
      expect(attacker.isOpen).toBe(true);
    }
    for (const bystander of bystanders) expect(bystander.isOpen).toBe(true);
    await Promise.all([...attackers, ...bystanders].map((client) => client.close()));
    return {
      serverCpuMs,
      quietP99: percentile(quiet, 99),
      attackP99: percentile(underAttack, 99),
      pings: underAttack.length,
    };
  }

  it(`${ATTACKERS} connections sending their allowance of wide frames within a few seconds: a frame costs about what JSON.parse does, and others' pong p99 stays within 50 ms`, async () => {
    const parseCpuMs = ATTACKERS * (ALLOWANCE / 2) * (parseCost(wideObject) + parseCost(wideArray));
    const parseOnly = await startParseOnly();
    const excess = (round: Round) => round.attackP99 - round.quietP99;
    let best = Infinity;
    try {
      for (let r = 1; r <= ROUNDS && best > 0; r++) {
        const pid = demo.child.pid as number;
        const ours = await measure(
          (address) => demo.connect({}, { localAddress: address }),
          r,
          pid,
        );
        const yardstick = await measure(
          (address) => connect(parseOnly.url, { localAddress: address }),
          r,
        );
        console.log(
          `wide frames, round ${r}: server CPU ${ours.serverCpuMs} ms for ` +
            `${ATTACKERS * ALLOWANCE} frames (JSON.parse alone ${parseCpuMs.toFixed(0)} ms); ` +
            `bystander pong p99 quiet ${ours.quietP99.toFixed(1)} ms, under attack ` +
            `${ours.attackP99.toFixed(1)} ms (${ours.pings} pings); a server that only parses: ` +
            `${yardstick.quietP99.toFixed(1)} ms, ${yardstick.attackP99.toFixed(1)} ms`,
        );
        // CPU time, not wall-clock: every round, whatever else runs on the machine.
        expect(ours.serverCpuMs).toBeLessThan(3 * parseCpuMs);
        best = Math.min(best, excess(ours) - Math.max(50, excess(yardstick)));
      }
    } finally {
      parseOnly.stop();
    }
    expect(best).toBeLessThanOrEqual(0);
  }, 300_000);
});
