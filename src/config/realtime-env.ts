import { DEV_JWT_SECRET, type RealtimeModuleOptions } from '@app/realtime';
import { demoTopicPolicies } from './topic-policies';

export interface DemoConfig {
  port: number;
  production: boolean;
  jwtSecret: string;
  /** GET /metrics without a token (METRICS_PUBLIC, default true); otherwise admin only. */
  metricsPublic: boolean;
  realtime: RealtimeModuleOptions;
}

/**
 * The demo's environment (PROTOCOL.md §7). Every variable is optional outside
 * production; a bad value stops start-up with the variable's name.
 */
export function demoConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  const production = env.NODE_ENV === 'production';
  if (production && !env.JWT_SECRET) {
    throw new Error('JWT_SECRET must be set when NODE_ENV=production');
  }
  const port = int(env, 'PORT', 3000);
  const jwtSecret = env.JWT_SECRET ?? DEV_JWT_SECRET;
  const origins = env.REALTIME_ALLOWED_ORIGINS ?? `http://localhost:${port}`;
  return {
    port,
    production,
    jwtSecret,
    metricsPublic: bool(env, 'METRICS_PUBLIC', true),
    realtime: {
      profile: production ? 'production' : 'development',
      jwt: { secret: jwtSecret, algorithms: ['HS256'] },
      allowedOrigins: origins
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
      allowAnonymous: bool(env, 'REALTIME_ALLOW_ANONYMOUS', true),
      topics: demoTopicPolicies,
      ...(env.REDIS_URL ? { redis: { url: env.REDIS_URL } } : {}),
      limits: {
        maxConnections: int(env, 'REALTIME_MAX_CONNECTIONS', 10_000),
        maxConnectionsPerIp: int(env, 'REALTIME_MAX_CONNECTIONS_PER_IP', 10),
        maxConnectionsPerUser: int(env, 'REALTIME_MAX_CONNECTIONS_PER_USER', 3),
        connectRate: int(env, 'REALTIME_CONNECT_RATE_PER_MIN', 10),
        connectWindowMs: 60_000,
        messageRate: int(env, 'REALTIME_MESSAGE_RATE_PER_MIN', 100),
        messageWindowMs: 60_000,
        maxSubscriptions: int(env, 'REALTIME_MAX_SUBSCRIPTIONS', 50),
        maxMessageBytes: int(env, 'REALTIME_MAX_MESSAGE_BYTES', 1_048_576),
        maxQueuedMessages: int(env, 'REALTIME_MAX_QUEUED_MESSAGES', 100),
      },
      heartbeat: {
        intervalMs: int(env, 'REALTIME_HEARTBEAT_MS', 30_000),
        pongTimeoutMs: int(env, 'REALTIME_PONG_TIMEOUT_MS', 10_000),
      },
      history: {
        size: int(env, 'REALTIME_HISTORY_SIZE', 100),
        ttlSeconds: int(env, 'REALTIME_HISTORY_TTL_S', 300),
      },
      jobs: {
        cleanupIntervalMs: int(env, 'REALTIME_CLEANUP_INTERVAL_MS', 30_000),
        attempts: int(env, 'REALTIME_JOB_ATTEMPTS', 5),
        backoffMs: int(env, 'REALTIME_JOB_BACKOFF_MS', 1_000),
      },
    },
  };
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer (got "${raw}")`);
  }
  return value;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new Error(`${name} must be true or false (got "${raw}")`);
}
