import { DEV_JWT_SECRET } from '../realtime.constants';
import { assertKnownOptionKeys } from './known-option-keys';
import { defaultHistoryTotalBytes } from './machine-memory';
import { defaultMaxConnections } from './open-file-limit';
import { HARDENED_PROFILES, REALTIME_PROFILES } from './realtime-profiles';
import type { RealtimeModuleOptions } from './realtime-module-options.interface';
import type { ResolvedRealtimeOptions } from './resolved-options';
import { validateOptionShapes, validateRealtimeOptions } from './validate-options';

/**
 * Lays the user's options over the profile over the safe defaults, then
 * validates the result so that a bad option fails start-up with its name.
 */
export function resolveRealtimeOptions(
  options: RealtimeModuleOptions = {},
): ResolvedRealtimeOptions {
  validateOptionShapes(options, Object.keys(REALTIME_PROFILES));
  const profile = options.profile ?? 'development';
  const preset = REALTIME_PROFILES[profile] ?? {};
  const pick = <K extends keyof RealtimeModuleOptions>(key: K) => ({
    ...(preset[key] as object),
    ...(options[key] as object),
  });
  const jwt = pick('jwt') as NonNullable<RealtimeModuleOptions['jwt']>;
  const publicKeys =
    jwt.publicKey !== undefined ||
    jwt.jwksUrl !== undefined ||
    (Array.isArray(jwt.keys) && jwt.keys.some((key) => key?.publicKey !== undefined));
  const limits = pick('limits') as NonNullable<RealtimeModuleOptions['limits']>;
  const network = pick('network') as NonNullable<RealtimeModuleOptions['network']>;
  const heartbeat = pick('heartbeat') as NonNullable<RealtimeModuleOptions['heartbeat']>;
  const history = pick('history') as NonNullable<RealtimeModuleOptions['history']>;
  const shutdown = pick('shutdown') as NonNullable<RealtimeModuleOptions['shutdown']>;
  const offline = options.offline ?? {};
  const idempotency = options.idempotency ?? {};

  const resolved: ResolvedRealtimeOptions = {
    profile,
    path: options.path ?? preset.path ?? '/ws',
    jwt: {
      secret: jwt.secret ?? (publicKeys ? undefined : DEV_JWT_SECRET),
      publicKey: jwt.publicKey,
      keys: jwt.keys ?? [],
      jwksUrl: jwt.jwksUrl,
      jwksRefreshMs: jwt.jwksRefreshMs ?? 600_000,
      jwksCooldownMs: jwt.jwksCooldownMs ?? 30_000,
      algorithms: jwt.algorithms ?? (publicKeys ? ['RS256'] : ['HS256']),
      issuer: jwt.issuer,
      audience: jwt.audience,
      clockToleranceSec: jwt.clockToleranceSec ?? 30,
    },
    allowedOrigins: options.allowedOrigins ?? preset.allowedOrigins ?? [],
    allowAnonymous: options.allowAnonymous ?? preset.allowAnonymous ?? false,
    topics: options.topics ?? {},
    limits: {
      maxConnections: limits.maxConnections ?? defaultMaxConnections(),
      maxConnectionsPerIp: limits.maxConnectionsPerIp ?? 10,
      maxConnectionsPerUser: limits.maxConnectionsPerUser ?? 3,
      connectRate: limits.connectRate ?? 10,
      connectWindowMs: limits.connectWindowMs ?? 60_000,
      messageRate: limits.messageRate ?? 100,
      messageWindowMs: limits.messageWindowMs ?? 60_000,
      maxSubscriptions: limits.maxSubscriptions ?? 50,
      subscriptionChurnRate: limits.subscriptionChurnRate ?? 60,
      maxMessageBytes: limits.maxMessageBytes ?? 64 * 1024,
      maxQueuedMessages: limits.maxQueuedMessages ?? 100,
      maxQueuedBytes: limits.maxQueuedBytes ?? 1024 * 1024,
      maxTrackedKeys: limits.maxTrackedKeys ?? 100_000,
      maxPendingPerIp: limits.maxPendingPerIp ?? 16,
      headersTimeoutMs: limits.headersTimeoutMs ?? 10_000,
      requestTimeoutMs: limits.requestTimeoutMs ?? 30_000,
      handshakeTimeoutMs: limits.handshakeTimeoutMs ?? 10_000,
    },
    network: {
      trustedProxies: network.trustedProxies ?? [],
      blockedIps: network.blockedIps ?? [],
      allowedIps: network.allowedIps ?? [],
    },
    heartbeat: {
      intervalMs: heartbeat.intervalMs ?? 30_000,
      pongTimeoutMs: heartbeat.pongTimeoutMs ?? 10_000,
    },
    history: {
      size: history.size ?? 100,
      ttlSeconds: history.ttlSeconds ?? 300,
      maxTopics: history.maxTopics ?? 100_000,
      maxBytes: history.maxBytes ?? 1_048_576,
      maxTotalBytes: history.maxTotalBytes ?? defaultHistoryTotalBytes(),
    },
    perMessageDeflate: options.perMessageDeflate ?? preset.perMessageDeflate ?? false,
    closeGraceMs: options.closeGraceMs ?? preset.closeGraceMs ?? 2_000,
    shutdown: { closeCode: shutdown.closeCode ?? 1001, graceMs: shutdown.graceMs ?? 3_000 },
    redis: options.redis && {
      url: options.redis.url,
      options: options.redis.options ?? {},
      keyPrefix: options.redis.keyPrefix ?? 'rt:',
      cluster: options.redis.cluster && {
        nodes: options.redis.cluster.nodes,
        options: options.redis.cluster.options ?? {},
      },
      pingIntervalMs: options.redis.pingIntervalMs ?? 5_000,
      pingTimeoutMs: options.redis.pingTimeoutMs ?? 3_000,
    },
    engine: options.engine ?? { type: options.redis ? 'redis' : 'memory' },
    offline: {
      maxMessagesPerUser: offline.maxMessagesPerUser ?? 100,
      maxBytesPerUser: offline.maxBytesPerUser ?? 256 * 1024,
      whenFull: offline.whenFull ?? 'reject',
      maxTtlSeconds: offline.maxTtlSeconds ?? 7 * 24 * 3600,
      maxUsers: offline.maxUsers ?? 100_000,
      deadLetterLimit: offline.deadLetterLimit ?? 1000,
      handlerAttempts: offline.handlerAttempts ?? 5,
      handlerBackoffMs: offline.handlerBackoffMs ?? 1000,
      sweepIntervalMs: offline.sweepIntervalMs ?? 1000,
    },
    idempotency: {
      windowSeconds: idempotency.windowSeconds ?? 300,
      maxKeys: idempotency.maxKeys ?? 100_000,
    },
    jobs: {
      cleanupIntervalMs: options.jobs?.cleanupIntervalMs ?? 30_000,
      attempts: options.jobs?.attempts ?? 5,
      backoffMs: options.jobs?.backoffMs ?? 1_000,
    },
    presence: {
      diffIntervalMs: options.presence?.diffIntervalMs ?? 1_000,
      maxDiffUsers: options.presence?.maxDiffUsers ?? 1_000,
      ttlSeconds: options.presence?.ttlSeconds ?? 30,
    },
    events: {
      attempts: options.events?.attempts ?? 5,
      backoffMs: options.events?.backoffMs ?? 1_000,
      handlerTimeoutMs: options.events?.handlerTimeoutMs ?? 10_000,
      deadLetterLimit: options.events?.deadLetterLimit ?? 1_000,
      offlineGraceMs: options.events?.offlineGraceMs ?? 5_000,
      offlineCheckMs: options.events?.offlineCheckMs ?? 200,
      batchWindowMs: options.events?.batchWindowMs ?? 25,
      batchMaxEvents: options.events?.batchMaxEvents ?? 500,
    },
  };
  assertKnownOptionKeys(options, resolved);
  validateRealtimeOptions(resolved, HARDENED_PROFILES.has(profile));
  return resolved;
}
