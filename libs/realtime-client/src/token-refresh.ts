import { ClientEvent } from '@nest-realtime/protocol';
import type { ClientContext } from './client-context';
import { isLinkLoss } from './realtime-error';
import { Timer } from './timer';

/** The session's identity after an in-band refresh. */
export interface Renewal {
  userId: string | null;
  expiresAt: number | null;
}

/**
 * In-band token refresh: `auth` with a fresh token before `expiresAt`, at most
 * `refreshBeforeExpiryMs` before and at most half the remaining life, so the
 * server never has to close with 4001 while the app can give a token.
 */
export class TokenRefresh {
  private readonly timer = new Timer();

  constructor(
    private readonly context: ClientContext,
    private readonly renewed: (renewal: Renewal) => void,
  ) {}

  schedule(expiresAt: number | null): void {
    const { getToken, refreshBeforeExpiryMs = 30_000 } = this.context.options;
    if (expiresAt === null || !getToken) return;
    const remaining = expiresAt - Date.now();
    const lead = Math.min(refreshBeforeExpiryMs, remaining / 2);
    this.timer.set(Math.max(0, remaining - lead), () => void this.refresh(expiresAt));
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
      // Try again while the token still lives; past expiresAt the server closes with 4001.
      if (this.context.connected) this.schedule(expiresAt);
    }
  }
}
