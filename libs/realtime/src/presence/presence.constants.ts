/** Injection token of the PresenceStore (memory or Redis, as the engine). */
export const PRESENCE_STORE = Symbol('PRESENCE_STORE');
