/** Injection token of the resolved options (see resolveRealtimeOptions). */
export const REALTIME_OPTIONS = Symbol('REALTIME_OPTIONS');
/** Injection token of the engine port implementation. */
export const REALTIME_ENGINE = Symbol('REALTIME_ENGINE');
/** Injection token of the throttler storage that counts messages per connection. */
export const REALTIME_THROTTLER_STORAGE = Symbol('REALTIME_THROTTLER_STORAGE');

/**
 * The development default secret. Hardened profiles refuse to start with it,
 * so a forgotten JWT_SECRET cannot reach production.
 */
export const DEV_JWT_SECRET = 'realtime-development-secret-do-not-use-in-production';
/** Injection token of this instance's id (a random UUID per process), as shown in stats and on the Redis bus. */
export const REALTIME_INSTANCE_ID = Symbol('REALTIME_INSTANCE_ID');
