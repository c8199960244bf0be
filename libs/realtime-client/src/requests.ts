import type { ClientEvent } from '@nest-realtime/protocol';
import type { ReplyTo, RequestData } from './client-context';
import { ClientErrorCode, RealtimeError } from './realtime-error';
import type { ClientSocket } from './socket';

interface PendingRequest {
  resolve: (data: Record<string, unknown>) => void;
  reject: (error: RealtimeError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Requests in flight, matched to their replies by `ref` (`r1`, `r2`, …); each fails after a timeout. */
export class Requests {
  private nextRef = 0;
  private readonly pending = new Map<string, PendingRequest>();

  constructor(private readonly timeoutMs: number) {}

  /** Sends a frame with a fresh `ref` and settles with the reply that echoes it. */
  send<E extends ClientEvent>(
    socket: ClientSocket,
    event: E,
    data: RequestData<E>,
  ): Promise<ReplyTo<E>> {
    const ref = `r${++this.nextRef}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.settle(
            ref,
            undefined,
            new RealtimeError(
              ClientErrorCode.Timeout,
              `${event} timed out after ${this.timeoutMs} ms`,
            ),
          ),
        this.timeoutMs,
      );
      this.pending.set(ref, {
        resolve: resolve as (data: Record<string, unknown>) => void,
        reject,
        timer,
      });
      socket.send(JSON.stringify({ event, data: { ...data, ref } }));
    });
  }

  has(ref: string): boolean {
    return this.pending.has(ref);
  }

  /** Settles the request `ref` with its reply (without the ref), or with `error`. */
  settle(ref: string, data?: Record<string, unknown>, error?: RealtimeError): void {
    const request = this.pending.get(ref);
    if (!request) return;
    this.pending.delete(ref);
    clearTimeout(request.timer);
    if (error) return request.reject(error);
    const reply = { ...data };
    delete reply.ref;
    request.resolve(reply);
  }

  /** The link went down: every request in flight fails with `error`. */
  failAll(error: RealtimeError): void {
    for (const ref of [...this.pending.keys()]) this.settle(ref, undefined, error);
  }
}
