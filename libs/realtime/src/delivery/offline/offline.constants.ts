/** Injection tokens of offline delivery's ports (memory or Redis, chosen by the engine type). */
export const OFFLINE_STORE = Symbol('OFFLINE_STORE');
export const OFFLINE_SCHEDULER = Symbol('OFFLINE_SCHEDULER');
