import { ClientEvent } from '@nest-realtime/protocol';
import type { ClientContext } from './client-context';
import { isLinkLoss } from './realtime-error';
import { Timer } from './timer';

/** A failed refresh is tried again after this, then after twice as long at each failure in a row. */
const RETRY_FIRST_MS = 1_000;

/** The session's identity after an in-band refresh. */
export interface Renewal {
  userId: string | null;
  expiresAt: number | null;
}

/**
 * In-band token refresh: `auth` with a fresh token before `expiresAt`, at most
 * `refreshBeforeExpiryMs` before and at most half the remaining life, so the
 * server never has to close with 4001 while the app can give a token. Never
 * past `expiresAt`: by then the server closes with 4001, and the reconnect
 * asks `getToken('expired')`.
 */
export class TokenRefresh {
  private readonly timer = new Timer();
  private failures = 0;

  constructor(
    private readonly context: ClientContext,
    private readonly renewed: (renewal: Renewal) => void,
  ) {}

  schedule(expiresAt: number | null): void {
    const { getToken, refreshBeforeExpiryMs = 30_000 } = this.context.options;
    this.failures = 0;
    if (expiresAt === null || !getToken) return;
    const remaining = expiresAt - Date.now();
    // Expired already by this clock, as every token is to a clock far ahead: each refresh would
    // bring a token this clock calls expired, and refresh again at once.
    if (remaining <= 0) return;
    const lead = Math.min(refreshBeforeExpiryMs, remaining / 2);
    this.timer.set(remaining - lead, () => void this.refresh(expiresAt));
  }

  stop(): void {
    this.timer.clear();
  }

  private async refresh(expiresAt: number): Promise<void> {
    try {
      const token = await this.context.options.getToken?.('refresh');
      if (!token || !this.context.connected) return;
      const reply = await this.context.request(ClientEvent.Auth, { token });
      const renewal = { userId: reply.userId, expiresAt: reply.expiresAt };
      this.renewed(renewal);
      this.context.emit('authenticated', renewal);
      this.schedule(renewal.expiresAt);
    } catch (error) {
      if (isLinkLoss(error)) return;
      this.context.report(error);
      this.retry(expiresAt);
    }
  }

  /** Backs off so a failing token backend is not hammered; gives up where the wait passes expiresAt. */
  private retry(expiresAt: number): void {
    const delayMs = RETRY_FIRST_MS * 2 ** this.failures++;
    if (this.context.connected && Date.now() + delayMs < expiresAt) {
      this.timer.set(delayMs, () => void this.refresh(expiresAt));
    }
  }
}
