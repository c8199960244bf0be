import { ArgumentsHost, Catch, HttpException, Logger, WsExceptionFilter } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { SocketWriter } from '../delivery/socket-writer.service';
import { RealtimeCounters } from '../metrics/realtime-counters';
import { ErrorCode, type ErrorFrameData, RealtimeException, refOf, ServerEvent } from '../protocol';
import { connectionOf } from '../registry/socket-connection';

/**
 * HttpExceptions come from the app's own global pipes and guards, which Nest
 * also applies to gateways; they are mapped rather than reported as INTERNAL.
 */
function fromHttpStatus(status: number): { code: ErrorCode; message: string } {
  if (status === 401 || status === 403)
    return { code: ErrorCode.Unauthorized, message: 'not allowed' };
  if (status === 429) return { code: ErrorCode.RateLimited, message: 'too many messages' };
  if (status >= 400 && status < 500)
    return { code: ErrorCode.BadRequest, message: 'invalid request' };
  return { code: ErrorCode.Internal, message: 'internal error' };
}

/**
 * The one place a failure becomes an `error` frame. RealtimeException carries
 * a message written for clients; anything else is a bug, logged here and
 * answered with INTERNAL and no detail.
 */
@Catch()
export class RealtimeExceptionFilter implements WsExceptionFilter {
  private readonly logger = new Logger('Realtime');

  constructor(
    private readonly counters: RealtimeCounters,
    private readonly writer: SocketWriter,
  ) {}

  /**
   * Returns null, not undefined: Nest's external exception handler logs and
   * rethrows whatever a filter leaves "unhandled" (undefined), which would turn
   * every bad client frame into two error logs. The dispatcher sends nothing for null.
   */
  catch(exception: unknown, host: ArgumentsHost): null {
    const ws = host.switchToWs();
    const body = this.toErrorFrame(exception, refOf(ws.getData()));
    this.counters.count(this.counters.errors, body.code);
    const connection = connectionOf(ws.getClient<WebSocket>());
    if (connection) this.writer.send(connection, ServerEvent.Error, body);
    return null;
  }

  private toErrorFrame(exception: unknown, ref: string | undefined): ErrorFrameData {
    if (exception instanceof RealtimeException) {
      return { ref, code: exception.code, message: exception.message, topic: exception.topic };
    }
    if (exception instanceof HttpException) {
      return { ref, ...fromHttpStatus(exception.getStatus()) };
    }
    this.logger.error(
      'unhandled error in a realtime handler',
      (exception as Error)?.stack ?? String(exception),
    );
    return { ref, code: ErrorCode.Internal, message: 'internal error' };
  }
}
