/** Injection token of the LifecycleDispatcher (in-process or Bull). */
export const LIFECYCLE_DISPATCHER = Symbol('LIFECYCLE_DISPATCHER');
/** Injection token of the EventDeadLetterStore. */
export const EVENT_DEAD_LETTERS = Symbol('EVENT_DEAD_LETTERS');
