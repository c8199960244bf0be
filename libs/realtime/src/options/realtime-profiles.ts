import type { RealtimeModuleOptions, RealtimeProfile } from './realtime-module-options.interface';

/**
 * Presets a user's own options are laid over. `development` is the default so
 * that a first run just works; `production` and `secure` add checks in
 * validateRealtimeOptions (no development secret, no `*` origin).
 */
export const REALTIME_PROFILES: Record<RealtimeProfile, RealtimeModuleOptions> = {
  development: {},
  production: {},
  secure: {
    allowAnonymous: false,
    perMessageDeflate: false,
    limits: {
      maxConnectionsPerIp: 5,
      maxConnectionsPerUser: 3,
      connectRate: 5,
      messageRate: 60,
      maxSubscriptions: 20,
      maxMessageBytes: 16 * 1024,
      maxQueuedMessages: 50,
      maxQueuedBytes: 256 * 1024,
    },
    heartbeat: { intervalMs: 15_000, pongTimeoutMs: 5_000 },
    jwt: { clockToleranceSec: 5 },
  },
  'high-scale': {
    limits: {
      maxConnectionsPerIp: 1_000,
      maxConnectionsPerUser: 10,
      connectRate: 600,
      maxQueuedMessages: 500,
      maxQueuedBytes: 4 * 1024 * 1024,
      maxTrackedKeys: 1_000_000,
    },
    heartbeat: { intervalMs: 45_000, pongTimeoutMs: 15_000 },
    history: { size: 50, ttlSeconds: 120 },
  },
};

/** Profiles that refuse development shortcuts at start-up. */
export const HARDENED_PROFILES: ReadonlySet<RealtimeProfile> = new Set(['production', 'secure']);
