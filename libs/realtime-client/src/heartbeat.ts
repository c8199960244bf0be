import { Timer } from './timer';

/**
 * Liveness: every inbound frame, ping or pong counts. A link idle for a
 * heartbeat is probed (a protocol ping where the runtime can send one, else a
 * `ping` event); nothing at all back within the pong timeout is a dead link.
 */
export class Heartbeat {
  private lastActivity = 0;
  private readonly beat = new Timer();
  private readonly deadline = new Timer();

  constructor(private readonly pongTimeoutMs: number) {}

  /** Something arrived on the link. */
  touch(): void {
    this.lastActivity = Date.now();
  }

  /** Probes (`probe`) a link idle for `intervalMs`; calls `dead` when the probe gets nothing back. */
  start(intervalMs: number | undefined, probe: () => void, dead: () => void): void {
    if (!intervalMs || intervalMs <= 0) return;
    const check = () => {
      const idleMs = Date.now() - this.lastActivity;
      if (idleMs < intervalMs) {
        // Checked again when the link will have been idle a full interval, not an interval from now.
        this.beat.set(intervalMs - idleMs, check);
        return;
      }
      if (!this.deadline.armed) {
        const probedAt = Date.now();
        probe();
        this.deadline.set(this.pongTimeoutMs, () => {
          if (this.lastActivity < probedAt) dead();
        });
      }
      this.beat.set(intervalMs, check);
    };
    this.beat.set(intervalMs, check);
  }

  stop(): void {
    this.beat.clear();
    this.deadline.clear();
  }
}
