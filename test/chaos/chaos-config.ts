/**
 * Everything a chaos run depends on. `npm run chaos` uses FULL (overridable
 * from the command line, `--help`); the e2e suite runs SHORT. The seed fixes
 * the fault schedule and the workload's choices; the interleavings with the
 * kernel's timing are what they are.
 */
export interface ChaosConfig {
  seed: number;
  /** Client SDK instances (about one user in ten has two). */
  clients: number;
  /** Connecting them all takes this long. */
  rampMs: number;
  /** The chaos phase: workload and faults. */
  durationMs: number;
  /** Faults injected during the chaos phase (each kind at least once when there are enough). */
  faults: number;
  /** Users revoked during the chaos phase. */
  revocations: number;
  /** Per second, over the chaos phase. */
  ordersPerSecond: number;
  inventoryPerSecond: number;
  chatPerSecond: number;
  notificationsPerSecond: number;
  /** Users leaving and coming back, per second. */
  churnPerSecond: number;
  /** Chat rooms and SKUs, each a topic a share of the clients subscribe to. */
  rooms: number;
  skus: number;
  notificationTtlSeconds: number;
  heartbeatMs: number;
  pongTimeoutMs: number;
  historySize: number;
  historyTtlSeconds: number;
  /** Presence entries' TTL: a topic's presence keys outlive its last member by three of them. */
  presenceTtlSeconds: number;
  cleanupIntervalMs: number;
  /** The client's reconnect backoff ceiling (full jitter below it). */
  backoffMaxMs: number;
  /** How long an instance stays SIGSTOPped: past the heartbeat and its pong timeout. */
  pauseMs: number;
}

export const FULL: ChaosConfig = {
  seed: 20_240_521,
  clients: 3_000,
  rampMs: 20_000,
  durationMs: 180_000,
  faults: 12,
  revocations: 6,
  ordersPerSecond: 3,
  inventoryPerSecond: 6,
  chatPerSecond: 12,
  notificationsPerSecond: 6,
  churnPerSecond: 3,
  rooms: 100,
  skus: 60,
  notificationTtlSeconds: 20,
  // Room for a loaded 2-core machine: a pong later than this is a dead link, and 3,000 clients reconnect.
  heartbeatMs: 8_000,
  pongTimeoutMs: 5_000,
  historySize: 50,
  historyTtlSeconds: 20,
  presenceTtlSeconds: 10,
  cleanupIntervalMs: 2_000,
  backoffMaxMs: 4_000,
  pauseMs: 15_000,
};

/** The variant `npm test` runs (test/chaos/chaos.e2e-spec.ts): every fault kind once, in about a minute. */
export const SHORT: ChaosConfig = {
  ...FULL,
  clients: 300,
  rampMs: 4_000,
  durationMs: 32_000,
  faults: 6,
  revocations: 2,
  ordersPerSecond: 3,
  inventoryPerSecond: 4,
  chatPerSecond: 6,
  notificationsPerSecond: 4,
  churnPerSecond: 2,
  rooms: 20,
  skus: 12,
  notificationTtlSeconds: 6,
  heartbeatMs: 2_000,
  pongTimeoutMs: 1_500,
  historyTtlSeconds: 8,
  presenceTtlSeconds: 5,
  cleanupIntervalMs: 1_000,
  backoffMaxMs: 2_000,
  pauseMs: 5_000,
};

const NUMERIC_OPTIONS = Object.keys(FULL) as Array<keyof ChaosConfig>;

export const USAGE = `npm run chaos -- [--short] [--<option> <number>]...

Options (defaults of the full run):
${NUMERIC_OPTIONS.map((key) => `  --${kebab(key)} ${FULL[key]}`).join('\n')}

Durations are in milliseconds unless the name says otherwise.`;

/** `--short` starts from SHORT; `--seed 7 --clients 500` override single values. */
export function parseChaosArgs(argv: readonly string[]): ChaosConfig | 'help' {
  let config: ChaosConfig = { ...FULL };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--short') {
      config = { ...SHORT, ...pick(config, argv.slice(0, i)) };
      continue;
    }
    const key = NUMERIC_OPTIONS.find((name) => `--${kebab(name)}` === arg);
    const value = Number(argv[i + 1]);
    if (!key || !Number.isFinite(value) || value < 0) {
      throw new Error(`unknown option or bad value: ${arg} ${argv[i + 1] ?? ''}\n\n${USAGE}`);
    }
    config[key] = value;
    i++;
  }
  return config;
}

/** The options given explicitly before `--short`, so that they survive it. */
function pick(config: ChaosConfig, given: readonly string[]): Partial<ChaosConfig> {
  const kept: Partial<ChaosConfig> = {};
  for (const key of NUMERIC_OPTIONS) if (given.includes(`--${kebab(key)}`)) kept[key] = config[key];
  return kept;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
