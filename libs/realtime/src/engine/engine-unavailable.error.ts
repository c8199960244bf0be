import { ErrorCode, RealtimeException } from '../protocol';

/**
 * The engine cannot carry the message now (Redis down or too slow): nothing
 * was published. Thrown at once, so domain code can tell a failed publish
 * from a successful one and retry or report it. Over WebSocket it is an
 * `INTERNAL` error frame; thrown from an HTTP handler it answers 503. Both
 * carry the message alone, written for clients; what Redis said (which can
 * name its state or a script's internals) stays in `reason`, for logs.
 *
 * @publicApi
 */
export class EngineUnavailableError extends RealtimeException {
  // The "http-errors" shape: Nest's HTTP exception handler answers 503 with the message.
  readonly status = 503;
  readonly statusCode = 503;
  readonly expose = true;

  constructor(readonly reason: string) {
    super(ErrorCode.Internal, 'realtime engine unavailable');
    this.name = 'EngineUnavailableError';
  }
}

/** What a log should say of a failure: the engine's reason, which clients are not shown. */
export function failureDetail(error: unknown): string {
  if (error instanceof EngineUnavailableError) return `${error.message}: ${error.reason}`;
  return (error as Error)?.message ?? String(error);
}

/** Awaits a call to the backend; its failure (down, too slow) rejects as EngineUnavailableError. */
export async function orEngineUnavailable<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    throw new EngineUnavailableError((error as Error)?.message ?? String(error));
  }
}
