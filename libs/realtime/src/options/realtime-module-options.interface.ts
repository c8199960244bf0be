import type { ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';
import type { NamespacePolicy } from '../topics/topic-policy.interface';

export type RealtimeProfile = 'development' | 'production' | 'secure' | 'high-scale';
export type JwtAlgorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'PS256'
  | 'PS384'
  | 'PS512';

/** A key accepted beside `jwt.secret` or `jwt.publicKey` (of the same kind), for key rotation. */
export interface RealtimeJwtKey {
  /** The `kid` header of the tokens it signs; without one it is tried for tokens that name no key of ours. */
  kid?: string;
  secret?: string;
  publicKey?: string;
}

export interface RealtimeJwtOptions {
  /** Shared secret for HS* algorithms. */
  secret?: string;
  /** PEM public key for RS*, ES* and PS*. */
  publicKey?: string;
  /**
   * More keys, for rotation (at most 16): a token whose `kid` names one of
   * them is checked with that key alone; any other with `secret` or
   * `publicKey`, then each of these without a `kid`, in order.
   */
  keys?: RealtimeJwtKey[];
  /**
   * An identity provider's JSON Web Key Set (`https://…/.well-known/jwks.json`):
   * its signing keys are accepted, each under its `kid`, beside `publicKey`
   * and `keys`. Fetched at start, every `jwksRefreshMs` (10 min), and when a
   * token names a kid no key has (at most once per `jwksCooldownMs`, 30 s);
   * verifying a token never waits for it.
   */
  jwksUrl?: string;
  jwksRefreshMs?: number;
  jwksCooldownMs?: number;
  algorithms?: JwtAlgorithm[];
  issuer?: string;
  audience?: string;
  clockToleranceSec?: number;
}

export interface RealtimeLimitOptions {
  /** Open connections in this process; default derives from the open-file limit. */
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  maxConnectionsPerUser?: number;
  /** Connection attempts per IP per `connectWindowMs`. */
  connectRate?: number;
  connectWindowMs?: number;
  /** Inbound messages per connection per `messageWindowMs`; twice that closes with 4008. */
  messageRate?: number;
  messageWindowMs?: number;
  maxSubscriptions?: number;
  /** subscribe and unsubscribe requests per connection per `messageWindowMs`; over it, RATE_LIMITED. */
  subscriptionChurnRate?: number;
  /** Inbound frame size (default 64 KiB); a larger frame closes with 1009. */
  maxMessageBytes?: number;
  /** Outbound queue per connection; past either bound the connection closes with 4009. */
  maxQueuedMessages?: number;
  maxQueuedBytes?: number;
  /** Bound on the IP and user tables kept for rate limits and revocations. */
  maxTrackedKeys?: number;
  /**
   * Sockets per IP that have not yet finished an HTTP request or the upgrade;
   * further ones are destroyed at once (slowloris).
   */
  maxPendingPerIp?: number;
  /** Time for a client to send an upgrade request's headers (the HTTP server's headersTimeout). */
  headersTimeoutMs?: number;
  /** Time for any HTTP request to arrive complete (the HTTP server's requestTimeout). */
  requestTimeoutMs?: number;
  /** Time from a socket's first byte to the end of its WebSocket handshake. */
  handshakeTimeoutMs?: number;
}

export interface RealtimeNetworkOptions {
  /** Proxies whose X-Forwarded-For is believed (exact IPs). Empty: never trusted. */
  trustedProxies?: string[];
  blockedIps?: string[];
  /** IPs that skip the per-IP limits (load balancers' health checks, internal services). */
  allowedIps?: string[];
}

export interface RealtimeModuleOptions {
  profile?: RealtimeProfile;
  /** WebSocket upgrade path. */
  path?: string;
  jwt?: RealtimeJwtOptions;
  /** Browser origins allowed to connect; `*` is for development only. */
  allowedOrigins?: string[];
  /** Connections without a token; they may use public topics only. */
  allowAnonymous?: boolean;
  /** Policies per topic namespace; a namespace without one is refused. */
  topics?: Record<string, NamespacePolicy>;
  limits?: RealtimeLimitOptions;
  network?: RealtimeNetworkOptions;
  heartbeat?: { intervalMs?: number; pongTimeoutMs?: number };
  /**
   * Each topic keeps its last `size` messages, at most `maxBytes` of them
   * (their encoded frames, 1 MiB by default), for `ttlSeconds`; at most
   * `maxTopics` topics keep history, and all of it together at most
   * `maxTotalBytes` (memory engine: the least recently published topics lose
   * their oldest messages first).
   */
  history?: {
    size?: number;
    ttlSeconds?: number;
    maxTopics?: number;
    maxBytes?: number;
    maxTotalBytes?: number;
  };
  perMessageDeflate?: boolean;
  /** How long a closed connection may take to finish the close handshake before it is cut. */
  closeGraceMs?: number;
  shutdown?: {
    /** 1001 (going away) or 1012 (restart: reconnect and recover). */
    closeCode?: 1001 | 1012;
    /** How long shutdown waits for clients to complete the close handshake. */
    graceMs?: number;
  };
  /**
   * Redis, shared by every instance: fan-out, history, revocations, limits and
   * jobs. Setting it selects the Redis engine unless `engine.type` says otherwise.
   */
  redis?: RealtimeRedisOptions;
  engine?: { type: 'memory' | 'redis' };
  /** Messages kept for users until acknowledged (`sendToUser` with `ttlSeconds`). */
  offline?: RealtimeOfflineOptions;
  /** `publish(..., { idempotencyKey })`: a key is honoured once within this window. */
  idempotency?: { windowSeconds?: number; maxKeys?: number };
  /** Background jobs (Bull queues on the Redis of `redis`; in-process timers without it). */
  jobs?: RealtimeJobsOptions;
  /** Presence of the namespaces that keep it (`topics.<ns>.presence`), and users online. */
  presence?: RealtimePresenceOptions;
  /** Lifecycle events handed to the app's `@OnRealtimeEvent` methods. */
  events?: RealtimeEventsOptions;
}

export interface RealtimeEventsOptions {
  /** Calls per handler per event (the first included) before the event is dead-lettered. */
  attempts?: number;
  /** First retry delay; each further retry waits twice as long. */
  backoffMs?: number;
  /** A handler call that has not settled after this fails (and is retried): it never holds anything else. */
  handlerTimeoutMs?: number;
  /** Dead-lettered events kept for inspection (the newest); the counter counts them all. */
  deadLetterLimit?: number;
  /** `user.offline` waits this long after the user's last connection closed; a reconnect within it cancels it. */
  offlineGraceMs?: number;
  /**
   * How often each instance looks for `user.offline` events whose grace is over (Redis mode: one
   * script call; the pending graces live in Redis, so whichever instance looks first tells).
   */
  offlineCheckMs?: number;
  /**
   * Redis mode: events are gathered for up to this long into one Bull `deliver` job (a connect
   * storm is a few jobs, not one per socket); an event waits at most this long more.
   */
  batchWindowMs?: number;
  /** Redis mode: events per `deliver` job at most; a full batch goes out at once. */
  batchMaxEvents?: number;
}

export interface RealtimePresenceOptions {
  /** `presence_diff` frames go out at most once per topic per this interval. */
  diffIntervalMs?: number;
  /** Past this many users in a topic, diffs carry the counts only (no joined/left lists). */
  maxDiffUsers?: number;
  /**
   * An instance that dies without closing stops counting within this time:
   * each instance renews its entries every third of it.
   */
  ttlSeconds?: number;
}

export interface RealtimeOfflineOptions {
  /** Per-user inbox bounds: messages, and bytes of their JSON. */
  maxMessagesPerUser?: number;
  maxBytesPerUser?: number;
  /** A full inbox refuses the new message (`OfflineInboxFullError`) or dead-letters its oldest one. */
  whenFull?: 'reject' | 'dead-letter-oldest';
  /** The longest retention a caller may ask for. */
  maxTtlSeconds?: number;
  /** Users with an inbox at once, in memory mode (Redis mode keeps them in Redis). */
  maxUsers?: number;
  /** Dead letters kept for inspection (the newest); the counter counts them all. */
  deadLetterLimit?: number;
  /** The dead-letter handler is retried with exponential backoff from `handlerBackoffMs`. */
  handlerAttempts?: number;
  handlerBackoffMs?: number;
  /**
   * How often expired messages are dead-lettered (one sweep of the deadlines
   * that passed, by every instance in Redis mode; no timer or job per
   * message). A message is dead-lettered at most this long after its TTL; it
   * is never delivered after its TTL meanwhile.
   */
  sweepIntervalMs?: number;
}

export interface RealtimeJobsOptions {
  /**
   * How often the cluster-wide cleanup runs. An instance that dies without
   * closing stops counting toward the limits within three intervals.
   */
  cleanupIntervalMs?: number;
  /** Tries per job before it lands in the failed set. */
  attempts?: number;
  /** First retry delay; each further retry waits twice as long. */
  backoffMs?: number;
}

export interface RealtimeRedisOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url?: string;
  /** ioredis options (TLS, password, db, sentinels…), laid over what `url` gives. */
  options?: RedisOptions;
  /** Prefix of every key and channel, so several apps can share one Redis. */
  keyPrefix?: string;
  /**
   * Redis Cluster (7 or newer) instead of one Redis: its nodes (some of them
   * suffice) and ioredis `Cluster` options. Keys then carry hash tags and topic
   * traffic uses sharded pub/sub (docs/scaling.md). `options` above apply to
   * every node connection.
   */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions };
  /**
   * How often the engine PINGs its connections (subscriber, command,
   * publisher; on a cluster each of their node connections) to find a link
   * that is open but dead (half-open TCP: no close ever comes, so nothing
   * would reconnect). Default 5000, at most 30000.
   */
  pingIntervalMs?: number;
  /** A PING unanswered this long drops the link, which then reconnects and resyncs. Default 3000, at most 30000. */
  pingTimeoutMs?: number;
}
