import { ErrorCode, RealtimeException } from '../protocol';

/**
 * The engine cannot carry the message now (Redis down or too slow): nothing
 * was published. Thrown at once, so domain code can tell a failed publish
 * from a successful one and retry or report it.
 *
 * @publicApi
 */
export class EngineUnavailableError extends RealtimeException {
  constructor(reason: string) {
    super(ErrorCode.Internal, `realtime engine unavailable: ${reason}`);
    this.name = 'EngineUnavailableError';
  }
}
