import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { WebSocket } from 'ws';
import type { ResolvedRealtimeOptions } from '../options/resolved-options';
import { CloseCode, ErrorCode, RealtimeException } from '../protocol';
import { REALTIME_OPTIONS } from '../realtime.constants';
import { connectionOf } from '../registry/socket-connection';
import { RevocationService } from './revocation.service';

/**
 * Every message re-checks the connection's token: expired (the timer closes
 * at expiry; this covers the gap) closes with 4001, revoked with 4003.
 */
@Injectable()
export class WsAuthGuard implements CanActivate {
  constructor(
    @Inject(REALTIME_OPTIONS) private readonly options: ResolvedRealtimeOptions,
    private readonly revocations: RevocationService,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const connection = connectionOf(context.switchToWs().getClient<WebSocket>());
    if (!connection)
      throw new RealtimeException(ErrorCode.Unauthorized, 'connection is not registered');
    const { principal } = connection;
    const grace = this.options.shutdown.graceMs;
    const tolerance = this.options.jwt.clockToleranceSec * 1000;
    if (principal.expiresAt !== null && principal.expiresAt + tolerance <= Date.now()) {
      connection.close(CloseCode.TokenExpired, grace);
      throw new RealtimeException(ErrorCode.Unauthorized, 'token expired');
    }
    if (this.revocations.isRevoked(principal)) {
      connection.close(CloseCode.Revoked, grace);
      throw new RealtimeException(ErrorCode.Unauthorized, 'token revoked');
    }
    return true;
  }
}
