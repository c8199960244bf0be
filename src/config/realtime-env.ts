import { DEV_JWT_SECRET, type RealtimeModuleOptions } from '@nest-realtime/server';
import { demoTopicPolicies } from './topic-policies';

export interface DemoConfig {
  port: number;
  /** Hardened: NODE_ENV is set to anything but `development` or `test`. */
  production: boolean;
  jwtSecret: string;
  /** GET /metrics without a token (METRICS_PUBLIC; default true outside production); otherwise admin only. */
  metricsPublic: boolean;
  /** HTTP requests per minute to each route, per signed-in user or per address (HTTP_RATE_PER_MIN). */
  httpRatePerMin: number;
  /** The demo also handles the library's `connected` event (DEMO_CONNECTED_HANDLER; default false). */
  connectedHandler: boolean;
  realtime: RealtimeModuleOptions;
}

const DEFAULT_HTTP_RATE_PER_MIN = 120;

/** The only NODE_ENV values that get the development profile (its public secret, /auth/token). */
const DEVELOPMENT_ENVS: ReadonlySet<string> = new Set(['', 'development', 'test']);

/**
 * The demo's environment (PROTOCOL.md §7). Every variable is optional outside
 * production; a bad value stops start-up with the variable's name. A variable
 * left unset leaves the library's default in place.
 */
export function demoConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  const nodeEnv = env.NODE_ENV ?? '';
  const production = !DEVELOPMENT_ENVS.has(nodeEnv);
  const secret = env.JWT_SECRET;
  if (production && (secret === undefined || secret.trim() === '')) {
    throw new Error(
      `JWT_SECRET must be set (and not blank) when NODE_ENV=${nodeEnv}: only an unset NODE_ENV, development or test may use the development secret`,
    );
  }
  const port = int(env, 'PORT') ?? 3000;
  const jwtSecret = secret ?? DEV_JWT_SECRET;
  const origins = env.REALTIME_ALLOWED_ORIGINS ?? `http://localhost:${port}`;
  return {
    port,
    production,
    jwtSecret,
    metricsPublic: bool(env, 'METRICS_PUBLIC') ?? !production,
    httpRatePerMin: int(env, 'HTTP_RATE_PER_MIN') ?? DEFAULT_HTTP_RATE_PER_MIN,
    connectedHandler: bool(env, 'DEMO_CONNECTED_HANDLER') ?? false,
    realtime: {
      profile: production ? 'production' : 'development',
      jwt: { secret: jwtSecret, algorithms: ['HS256'], keys: previousSecrets(env) },
      allowedOrigins: origins
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
      allowAnonymous: bool(env, 'REALTIME_ALLOW_ANONYMOUS') ?? !production,
      topics: demoTopicPolicies,
      ...redisFromEnv(env),
      limits: {
        maxConnections: int(env, 'REALTIME_MAX_CONNECTIONS'),
        maxConnectionsPerIp: int(env, 'REALTIME_MAX_CONNECTIONS_PER_IP'),
        maxConnectionsPerUser: int(env, 'REALTIME_MAX_CONNECTIONS_PER_USER'),
        connectRate: int(env, 'REALTIME_CONNECT_RATE_PER_MIN'),
        messageRate: int(env, 'REALTIME_MESSAGE_RATE_PER_MIN'),
        maxSubscriptions: int(env, 'REALTIME_MAX_SUBSCRIPTIONS'),
        maxMessageBytes: int(env, 'REALTIME_MAX_MESSAGE_BYTES'),
        maxQueuedMessages: int(env, 'REALTIME_MAX_QUEUED_MESSAGES'),
        maxPendingPerIp: int(env, 'REALTIME_MAX_PENDING_PER_IP'),
      },
      heartbeat: {
        intervalMs: int(env, 'REALTIME_HEARTBEAT_MS'),
        pongTimeoutMs: int(env, 'REALTIME_PONG_TIMEOUT_MS'),
      },
      history: {
        size: int(env, 'REALTIME_HISTORY_SIZE'),
        ttlSeconds: int(env, 'REALTIME_HISTORY_TTL_S'),
        maxTopics: int(env, 'REALTIME_HISTORY_MAX_TOPICS'),
        maxTotalBytes: int(env, 'REALTIME_HISTORY_MAX_TOTAL_BYTES'),
      },
      jobs: {
        cleanupIntervalMs: int(env, 'REALTIME_CLEANUP_INTERVAL_MS'),
        attempts: int(env, 'REALTIME_JOB_ATTEMPTS'),
        backoffMs: int(env, 'REALTIME_JOB_BACKOFF_MS'),
      },
      presence: {
        diffIntervalMs: int(env, 'REALTIME_PRESENCE_DIFF_MS'),
        maxDiffUsers: int(env, 'REALTIME_PRESENCE_MAX_DIFF_USERS'),
        ttlSeconds: int(env, 'REALTIME_PRESENCE_TTL_S'),
      },
      events: {
        offlineGraceMs: int(env, 'REALTIME_OFFLINE_GRACE_MS'),
      },
    },
  };
}

function int(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer (got "${raw}")`);
  }
  return value;
}

function bool(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new Error(`${name} must be true or false (got "${raw}")`);
}

/**
 * `REDIS_CLUSTER_NODES` (comma-separated `host:port` of Redis Cluster nodes)
 * runs the Redis engine on that cluster, signed in with `REDIS_CLUSTER_USERNAME`
 * and `REDIS_CLUSTER_PASSWORD` when set; otherwise `REDIS_URL` on one Redis.
 */
function redisFromEnv(env: NodeJS.ProcessEnv): Pick<RealtimeModuleOptions, 'redis'> {
  const nodes = (env.REDIS_CLUSTER_NODES ?? '')
    .split(',')
    .map((node) => node.trim())
    .filter(Boolean)
    .map((node) => {
      const colon = node.lastIndexOf(':');
      const port = colon === -1 ? 6379 : Number(node.slice(colon + 1));
      if (!Number.isInteger(port) || port < 1 || port > 65_535 || colon === 0) {
        throw new Error(`REDIS_CLUSTER_NODES: "${node}" is not host:port`);
      }
      return { host: colon === -1 ? node : node.slice(0, colon), port };
    });
  if (nodes.length > 0) {
    // A cluster's nodes have no URL to carry credentials: every node connection signs in with these.
    const username = env.REDIS_CLUSTER_USERNAME || undefined;
    const password = env.REDIS_CLUSTER_PASSWORD || undefined;
    const options = username || password ? { options: { username, password } } : {};
    return { redis: { cluster: { nodes }, ...options } };
  }
  return env.REDIS_URL ? { redis: { url: env.REDIS_URL } } : {};
}

/**
 * JWT_PREVIOUS_SECRET: the secret being rotated out, still accepted (not
 * signed with) until the tokens it signed expire; empty or unset, none.
 */
function previousSecrets(env: NodeJS.ProcessEnv): Array<{ secret: string }> {
  const previous = env.JWT_PREVIOUS_SECRET;
  return previous ? [{ secret: previous }] : [];
}
