import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import type { RevokeCommand } from '../engine/realtime-engine.port';
import type { Connection } from '../registry/connection';

export interface RecordedRevocation {
  tokenId?: string;
  userId?: string;
  expiresAt?: number;
}

/**
 * RevocationService under RealtimeTestingModule: `revoke` records what domain
 * code revoked (read `revoked`), and refuses what the real one refuses. There
 * are no connections to close, so `apply` closes none.
 *
 * @publicApi
 */
@Injectable()
export class RecordedRevocations {
  readonly revoked: RecordedRevocation[] = [];

  revoke(target: RecordedRevocation): Promise<void> {
    if (!target.tokenId && !target.userId) {
      return Promise.reject(new Error('revoke needs a tokenId or a userId'));
    }
    this.revoked.push({ ...target });
    return Promise.resolve();
  }

  apply(_command: RevokeCommand): Connection[] {
    return [];
  }

  isRevoked(principal: Principal): boolean {
    return this.revoked.some(
      ({ tokenId, userId }) =>
        (tokenId !== undefined && tokenId === principal.tokenId) ||
        (userId !== undefined && userId === principal.userId),
    );
  }

  get size(): number {
    return this.revoked.length;
  }
}
