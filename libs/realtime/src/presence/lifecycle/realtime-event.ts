/**
 * A dead letter of offline delivery, as `DeadLetter` (delivery/offline) has
 * it; spelled here since presence does not import delivery (the compiler
 * checks the two agree where the gateway hands one over).
 */
export interface DeadLetteredMessage {
  id: string;
  userId: string;
  type: string;
  payload: unknown;
  ts: number;
  expiresAt: number;
  reason: 'expired' | 'evicted';
  deadAt: number;
}

/**
 * What each lifecycle event carries besides its `id`, `name` and `at`.
 *
 * @publicApi
 */
export interface RealtimeEventPayloads {
  connected: { connectionId: string; userId: string | null };
  /** `durationMs`: from the `connected` frame to the close. */
  disconnected: {
    connectionId: string;
    userId: string | null;
    code: number;
    reason: string;
    durationMs: number;
  };
  subscribed: { connectionId: string; userId: string | null; topic: string };
  unsubscribed: { connectionId: string; userId: string | null; topic: string };
  /** The user's first connection on any instance. */
  'user.online': { userId: string };
  /** The user's last connection anywhere closed `offlineGraceMs` ago, at `lastSeen`, and none opened since. */
  'user.offline': { userId: string; lastSeen: number };
  /** A retained `$user` message expired unacknowledged (or was evicted from a full inbox). */
  'delivery.dead-lettered': DeadLetteredMessage;
}

export type RealtimeEventName = keyof RealtimeEventPayloads;

/** Every lifecycle event's name. */
export const REALTIME_EVENT_NAMES: readonly RealtimeEventName[] = [
  'connected',
  'disconnected',
  'subscribed',
  'unsubscribed',
  'user.online',
  'user.offline',
  'delivery.dead-lettered',
];

/**
 * One lifecycle event. `id` is stable across retries and instances: a
 * handler that must act once de-duplicates on it (delivery is at least once).
 *
 * @publicApi
 */
export type RealtimeEvent<N extends RealtimeEventName = RealtimeEventName> = {
  [K in N]: { id: string; name: K; at: number; data: RealtimeEventPayloads[K] };
}[N];

/** An event whose handler failed every attempt (or timed out), kept for inspection. */
export interface DeadLetteredEvent {
  event: RealtimeEvent;
  /** `Class.method` of the handler. */
  handler: string;
  error: string;
  attempts: number;
  at: number;
}
