import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { SocketWriter } from '../transport/socket-writer.service';
import { ErrorCode, RealtimeException } from '../protocol';
import { connectionOf } from '../registry/socket-connection';
import { closeCodeFor, realtimeExceptionFor, SessionRules } from '../auth/session-rules';

/**
 * Every message re-checks the connection's token: expired (the timer closes
 * at expiry; this covers the gap) closes with 4001, revoked with 4003, each
 * after the UNAUTHORIZED reply and every reply owed before it.
 */
@Injectable()
export class WsAuthGuard implements CanActivate {
  constructor(
    private readonly rules: SessionRules,
    private readonly writer: SocketWriter,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const connection = connectionOf(context.switchToWs().getClient<WebSocket>());
    if (!connection)
      throw new RealtimeException(ErrorCode.Unauthorized, 'connection is not registered');
    const problem = this.rules.problem(connection.principal);
    if (problem === undefined) return true;
    if (problem !== 'user-limit') this.writer.closeAfterPending(connection, closeCodeFor(problem));
    throw realtimeExceptionFor(problem);
  }
}
