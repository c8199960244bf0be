import { Timer } from './timer';

/**
 * Liveness: every inbound frame, ping or pong counts. An idle link is probed
 * every heartbeat (a protocol ping where the runtime can send one, else a
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
    this.beat.set(intervalMs, () => {
      if (!this.deadline.armed && Date.now() - this.lastActivity >= intervalMs) {
        const probedAt = Date.now();
        probe();
        this.deadline.set(this.pongTimeoutMs, () => {
          if (this.lastActivity < probedAt) dead();
        });
      }
      this.start(intervalMs, probe, dead);
    });
  }

  stop(): void {
    this.beat.clear();
    this.deadline.clear();
  }
}
