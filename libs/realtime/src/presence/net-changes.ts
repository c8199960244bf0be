import type { PresenceChange } from './presence-store.port';

/** What a run of joins and leaves amounts to: who is in now and was not, and the reverse. */
export interface NetChanges {
  joined: string[];
  left: string[];
}

/**
 * Nets a topic's changes per user: a user who left and came back (or came and
 * went) within the run is in neither list; a second connection is no join
 * (the store logs users, not connections).
 */
export function netChanges(changes: readonly PresenceChange[]): NetChanges {
  /** Whether each user was in before the run (the opposite of their first change) and after it. */
  const states = new Map<string, { before: boolean; after: boolean }>();
  for (const [userId, joined] of changes) {
    const state = states.get(userId);
    if (state) state.after = joined;
    else states.set(userId, { before: !joined, after: joined });
  }
  const net: NetChanges = { joined: [], left: [] };
  for (const [userId, { before, after }] of states) {
    if (before !== after) (after ? net.joined : net.left).push(userId);
  }
  return net;
}
