import { ArgumentsHost, Catch, HttpException, Logger, WsExceptionFilter } from '@nestjs/common';
import { RealtimeCounters } from '../metrics/realtime-counters';
import {
  ErrorCode,
  type ErrorFrameData,
  frame,
  RealtimeException,
  refOf,
  ServerEvent,
  type ServerFrame,
} from '../protocol';

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

  constructor(private readonly counters: RealtimeCounters) {}

  /**
   * The error frame is the handler's reply: the dispatcher writes it in
   * request order, like any other reply (never undefined, which Nest's
   * external exception handler would take as "not handled", log and rethrow).
   */
  catch(exception: unknown, host: ArgumentsHost): ServerFrame<ErrorFrameData> {
    return this.errorFrame(exception, refOf(host.switchToWs().getData()));
  }

  /** The `error` frame answering a request that failed, counted; also for a reply that fails later. */
  errorFrame(exception: unknown, ref: string | undefined): ServerFrame<ErrorFrameData> {
    const body = this.toErrorFrame(exception, ref);
    this.counters.count(this.counters.errors, body.code);
    return frame(ServerEvent.Error, body);
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
