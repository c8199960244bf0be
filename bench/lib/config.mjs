// Run configuration: defaults, `--quick`, command-line flags and BENCH_* environment variables.

export const USAGE = `Usage: npm run bench -- [--quick] [--servers=a,b] [--no-build] [--help]

  --quick            smoke run: 1k subscribers, 1 repetition, short phases; writes
                     bench/results/quick.json and leaves docs/benchmarks.md alone
  --servers=a,b      subset of: demo, ws-bare, ws-preframed, socketio, demo-redis,
                     demo-redis-cluster, socketio-redis (ws-bare is the reference for ratios;
                     the -redis ones run as two instances on a redis-server the bench starts,
                     demo-redis-cluster as two instances on a 3-master Redis Cluster it starts)
  --no-build         never run 'nest build' (use dist/ as it is)

Environment (defaults in brackets, quick-run values after the slash):
  BENCH_REPEAT            repetitions per server, servers alternate within each [3 / 1]
  BENCH_SCALE             subscriber counts, comma-separated [1000,10000 / 1000]
  BENCH_BURST_MAX         publishes per burst, upper bound [1000]
  BENCH_BURST_DELIVERIES  target deliveries per burst: publishes = min(MAX, this / subscribers)
                          [1000000 / 200000]
  BENCH_RATES             paced publish rates for latency, msgs/s [2,5]
  BENCH_LATENCY_SECONDS   duration of each paced run [10 / 3]
  BENCH_SETUP_CONNS       connections opened in the setup-rate test [8000 / 500]
  BENCH_SETUP_CONCURRENCY connections in flight per load worker [50]
  BENCH_SETUP_HIGH        connections in flight in all, second setup row (a reconnect
                          storm's hundreds of handshakes at once) [500]
  BENCH_SETUP_TRIALS      measured trials of each setup, presence and connected round per
                          repetition; each row reports a repetition's median trial, the presence
                          ratios the median of the trials' ratios (each trial's two sides run
                          back to back) [3 / 1]
  BENCH_SETUP_WARMUP      unmeasured connections per server process before the setup rate,
                          in each of its kinds (JWT or not, either number in flight) and before
                          the presence and connected-handler rounds [4000 / 500]
  BENCH_NOTIFIES          notifications to offline users in the burst (demo only), over HTTP
                          and in process (bench/notify.mjs, no HTTP) [10000 / 2000]
  BENCH_STORM_CLIENTS     reconnect storm (demo only): subscribed clients closed by a restart
                          of the (first) instance, each reconnecting with \`since\` [10000 / 1000]
  BENCH_PHASES            phases to run, comma-separated, of: setup (every server at once, their
                          rounds in turn, before each repetition's sessions), fanout (idle
                          memory, bursts, paced latency), notify, storm, presence (demo only: restarts
                          the demo with the heartbeat at 10 min, then setup with every
                          connection subscribing with presence: true, beside without),
                          connected (demo only: setup with an app \`connected\` handler, beside
                          without; restarts the demo twice) [all]
  BENCH_SAMPLE_EVERY      1 in N sockets parses messages for latency [50 / 10]
  BENCH_WORKERS           load-generator processes [2, more if a worker would pass 9000 sockets]
  BENCH_SERVERS           same as --servers
  BENCH_MAX_MINUTES       no new server session (or setup stage) starts after this [90]
  BENCH_WORKER_PROF       set to 1: CPU profiles of the load workers in bench/results/
  BENCH_HEAP_SNAPSHOT     set to 1: a heap snapshot of the (first) server instance after each
                          idle-memory measurement, bench/results/server-<name>-<scale>.heapsnapshot
  BENCH_SERVER_PROF       set to 1: CPU profiles of the (first) server instance during each
                          measured setup, bench/results/server-<name>-setup-<jwt|anon>-<n>.cpuprofile,
                          and each measured presence or connected round (until idle),
                          bench/results/server-<name>-<round label>.cpuprofile
  BENCH_SETUP_ONLY        set to 1: measure connection setup only (with and without JWT);
                          a reduced run, written to bench/results/quick.json like --quick
`;

/** What BENCH_PHASES may name, in the order they run (all by default). */
export const PHASES = ['setup', 'fanout', 'notify', 'storm', 'presence', 'connected'];

function list(value, fallback) {
  if (!value) return fallback;
  return value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

function numbers(value, fallback) {
  const parsed = list(value, null)?.map(Number);
  if (!parsed) return fallback;
  if (parsed.some((n) => !Number.isFinite(n) || n <= 0))
    throw new Error(`bad number list: ${value}`);
  return parsed;
}

function int(value, fallback) {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`expected a positive integer, got ${value}`);
  return n;
}

export function loadConfig(argv = process.argv.slice(2), env = process.env) {
  const flags = new Set(argv.filter((a) => !a.includes('=')));
  const options = Object.fromEntries(
    argv.filter((a) => a.includes('=')).map((a) => a.replace(/^--/, '').split('=')),
  );
  for (const flag of flags) {
    if (!['--quick', '--no-build', '--help', '-h'].includes(flag))
      throw new Error(`unknown flag ${flag}`);
  }
  const setupOnly = env.BENCH_SETUP_ONLY === '1';
  const quick = flags.has('--quick') || setupOnly;
  const scales = numbers(env.BENCH_SCALE, quick ? [1000] : [1000, 10_000])
    .map(Math.round)
    .sort((a, b) => a - b);
  const maxScale = scales[scales.length - 1];
  const config = {
    help: flags.has('--help') || flags.has('-h'),
    quick,
    build: !flags.has('--no-build'),
    servers: list(options.servers ?? env.BENCH_SERVERS, [
      'demo',
      'ws-bare',
      'ws-preframed',
      'socketio',
      'demo-redis',
      'demo-redis-cluster',
      'socketio-redis',
    ]),
    repeat: int(env.BENCH_REPEAT, quick ? 1 : 3),
    scales,
    burstMax: int(env.BENCH_BURST_MAX, 1000),
    burstDeliveries: int(env.BENCH_BURST_DELIVERIES, quick ? 200_000 : 1_000_000),
    rates: numbers(env.BENCH_RATES, [2, 5]),
    latencySeconds: int(env.BENCH_LATENCY_SECONDS, quick ? 3 : 10),
    setupConnections: int(env.BENCH_SETUP_CONNS, quick ? 500 : 8000),
    setupConcurrency: int(env.BENCH_SETUP_CONCURRENCY, 50),
    setupHighInFlight: int(env.BENCH_SETUP_HIGH, 500),
    setupTrials: int(env.BENCH_SETUP_TRIALS, quick ? 1 : 3),
    stormClients: int(env.BENCH_STORM_CLIENTS, quick ? 1000 : 10_000),
    phases: new Set(setupOnly ? ['setup'] : list(env.BENCH_PHASES, PHASES)),
    setupWarmUp: int(env.BENCH_SETUP_WARMUP, quick ? 500 : 4000),
    notifies: int(env.BENCH_NOTIFIES, quick ? 2000 : 10_000),
    notifyConcurrency: 64,
    connectConcurrency: 100,
    sampleEvery: int(env.BENCH_SAMPLE_EVERY, quick ? 10 : 50),
    // One fd per socket; the limit is 20000 per process, so stay well under it per worker.
    workers: Math.max(int(env.BENCH_WORKERS, 2), Math.ceil(maxScale / 9000)),
    topic: 'bench',
    secret: `bench-secret-${process.pid}-${Date.now()}`,
  };
  config.latencyScale = maxScale;
  for (const phase of config.phases) {
    if (!PHASES.includes(phase)) {
      throw new Error(`unknown phase ${phase} in BENCH_PHASES (one of ${PHASES.join(', ')})`);
    }
  }
  return config;
}

/** Publishes per burst at `subscribers`: enough deliveries to average over, bounded run time. */
export function burstMessages(config, subscribers) {
  return Math.max(10, Math.min(config.burstMax, Math.round(config.burstDeliveries / subscribers)));
}
