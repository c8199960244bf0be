import type { ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';
import type {
  JwtAlgorithm,
  RealtimeJwtKey,
  RealtimeModuleOptions,
  RealtimeProfile,
} from './realtime-module-options.interface';
import type { NamespacePolicy } from '../topics/topic-policy.interface';

/** Options after defaults, profile and validation: every field present. */
export interface ResolvedRealtimeOptions {
  profile: RealtimeProfile;
  path: string;
  jwt: {
    secret: string | undefined;
    publicKey: string | undefined;
    keys: RealtimeJwtKey[];
    jwksUrl: string | undefined;
    jwksRefreshMs: number;
    jwksCooldownMs: number;
    algorithms: JwtAlgorithm[];
    issuer: string | undefined;
    audience: string | undefined;
    clockToleranceSec: number;
  };
  allowedOrigins: string[];
  allowAnonymous: boolean;
  topics: Record<string, NamespacePolicy>;
  limits: {
    maxConnections: number;
    maxConnectionsPerIp: number;
    maxConnectionsPerUser: number;
    connectRate: number;
    connectWindowMs: number;
    messageRate: number;
    messageWindowMs: number;
    maxSubscriptions: number;
    subscriptionChurnRate: number;
    maxMessageBytes: number;
    maxQueuedMessages: number;
    maxQueuedBytes: number;
    maxTrackedKeys: number;
    maxPendingPerIp: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    handshakeTimeoutMs: number;
  };
  network: { trustedProxies: string[]; blockedIps: string[]; allowedIps: string[] };
  heartbeat: { intervalMs: number; pongTimeoutMs: number };
  history: {
    size: number;
    ttlSeconds: number;
    maxTopics: number;
    maxBytes: number;
    maxTotalBytes: number;
  };
  perMessageDeflate: boolean;
  closeGraceMs: number;
  shutdown: { closeCode: 1001 | 1012; graceMs: number };
  redis:
    | {
        url: string | undefined;
        options: RedisOptions;
        keyPrefix: string;
        cluster: { nodes: ClusterNode[]; options: ClusterOptions } | undefined;
        pingIntervalMs: number;
        pingTimeoutMs: number;
      }
    | undefined;
  engine: { type: 'memory' | 'redis' };
  offline: {
    maxMessagesPerUser: number;
    maxBytesPerUser: number;
    whenFull: 'reject' | 'dead-letter-oldest';
    maxTtlSeconds: number;
    maxUsers: number;
    deadLetterLimit: number;
    handlerAttempts: number;
    handlerBackoffMs: number;
    sweepIntervalMs: number;
  };
  idempotency: { windowSeconds: number; maxKeys: number };
  jobs: { cleanupIntervalMs: number; attempts: number; backoffMs: number };
  presence: { diffIntervalMs: number; maxDiffUsers: number; ttlSeconds: number };
  events: {
    attempts: number;
    backoffMs: number;
    handlerTimeoutMs: number;
    deadLetterLimit: number;
    offlineGraceMs: number;
    offlineCheckMs: number;
    batchWindowMs: number;
    batchMaxEvents: number;
  };
}

export type { RealtimeModuleOptions };
