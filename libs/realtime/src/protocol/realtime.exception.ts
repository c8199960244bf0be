import { WsException } from '@nestjs/websockets';
import { ErrorCode } from '@nest-realtime/protocol';

/**
 * The one exception type that reaches clients as an `error` frame. Its message
 * is written for the client, so it must never carry internals.
 *
 * @publicApi
 */
export class RealtimeException extends WsException {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly topic?: string,
  ) {
    super({ code, message, topic });
    this.message = message;
  }
}
